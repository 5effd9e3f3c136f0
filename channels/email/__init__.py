"""E-mail: invoice delivery over SMTP (the outbox's `invoice.email` messages) and bounce parsing (RFC 3464 DSNs).

`InvoiceMailer(db, settings)` is a `domain.services.outbox.Send` for topic `invoice.email`: give it to
`dispatch_outbox` (alone, or from a router over topics)."""

from channels.email._dsn import Bounce, parse_dsn
from channels.email._smtp import InvoiceMailer, PermanentFailure, TransientFailure, build_message

__all__ = ["Bounce", "InvoiceMailer", "PermanentFailure", "TransientFailure", "build_message", "parse_dsn"]

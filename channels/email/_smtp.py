"""Sending an invoice over SMTP: the PDF attached, a link to the hosted page, our Message-ID."""

from __future__ import annotations

import logging
import smtplib
import socket
from email.message import EmailMessage
from email.utils import formatdate

from channels.documents import Renderer, default_renderer
from channels.documents.einvoice import EInvoiceFile, build
from domain.errors import BillingError
from domain.model.outbox_events import InvoiceEmail, InvoiceReminder
from domain.model.roles import Actor
from domain.services import delivery, documents, einvoice, reminders
from domain.services.delivery import Attempt
from domain.services.outbox import Message
from domain.settings import Settings
from domain.store.session import Database

log = logging.getLogger("billable.email")


class TransientFailure(Exception):
    """Try again later (SMTP 4xx, connection refused, timeout): the outbox backs off and retries."""


class PermanentFailure(Exception):
    """Never going to work (SMTP 5xx, an invalid address)."""


def build_message(attempt: Attempt, settings: Settings, pdf: bytes, renderer: Renderer | None = None,
                  einvoice: EInvoiceFile | None = None) -> EmailMessage:
    """The invoice e-mail, in the client's language (`email/invoice.txt.j2`), with the PDF attached (and the
    e-invoice XML in the client's format, when it receives one)."""
    inv = attempt.document.invoice
    link = f"{settings.public_url.rstrip('/')}/i/{attempt.token}"
    subject, body = (renderer or default_renderer(settings)).email(attempt.document, "invoice", link)
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(attempt.recipients)
    msg["Subject"] = subject
    msg["Message-ID"] = attempt.message_id
    msg["Date"] = formatdate(localtime=False)
    msg.set_content(body)
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{inv.number}.pdf")
    if einvoice is not None:
        msg.add_attachment(einvoice.content, maintype="application", subtype="xml", filename=einvoice.filename)
    return msg


def _classify(e: BaseException) -> Exception:
    if isinstance(e, (PermanentFailure, TransientFailure)):
        return e
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in e.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            return PermanentFailure(f"recipients refused: {e.recipients}")
        return TransientFailure(f"recipients refused for now: {e.recipients}")
    if isinstance(e, smtplib.SMTPResponseException):
        text = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        cls = PermanentFailure if e.smtp_code >= 500 else TransientFailure
        return cls(f"SMTP {e.smtp_code}: {text}")
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return PermanentFailure(f"SMTP: {e}")
    if isinstance(e, (smtplib.SMTPException, OSError, socket.timeout)):
        return TransientFailure(f"{type(e).__name__}: {e}")
    return TransientFailure(f"{type(e).__name__}: {e}")


class InvoiceMailer:
    """The outbox's sender for `invoice.email`. Crash-safe: see `domain.services.delivery`."""

    def __init__(self, db: Database, settings: Settings, renderer: Renderer | None = None) -> None:
        self.db, self.settings = db, settings
        self.renderer = renderer or default_renderer(settings)

    TOPICS = (delivery.TOPIC, reminders.TOPIC)

    def __call__(self, m: Message) -> None:
        order = m.event
        if isinstance(order, InvoiceReminder):
            return self._reminder(order)
        if not isinstance(order, InvoiceEmail):
            raise ValueError(f"InvoiceMailer sends {', '.join(self.TOPICS)} messages, not {m.topic}")
        invoice_id, message_id = order.invoice_id, order.message_id
        attempt = delivery.begin_attempt(self.db.uow(), invoice_id, message_id)
        if attempt is None:
            return  # sent already, superseded, or interrupted mid-hand-over (never sent twice)
        try:
            pdf, xml_file = self._documents(invoice_id, attempt)
            msg = build_message(attempt, self.settings, pdf, self.renderer, xml_file)
            self._send(msg, attempt.recipients)
        except Exception as e:
            failure = _classify(e)
            if isinstance(failure, PermanentFailure):
                log.warning("invoice %s: delivery failed for good: %s", invoice_id, failure)
                delivery.record_failed(self.db.uow(), invoice_id, message_id, str(failure))
                return
            delivery.record_transient(self.db.uow(), invoice_id, message_id, str(failure))
            raise failure from e
        delivery.record_sent(self.db.uow(), invoice_id, message_id)

    def _documents(self, invoice_id: int, attempt: Attempt) -> tuple[bytes, EInvoiceFile | None]:
        """The PDF and the e-invoice in the client's format: a Factur-X PDF is the PDF; an XRechnung or Peppol XML
        goes beside it. An e-invoice that cannot be made (a field its format needs is empty) is a permanent
        failure naming the fields, so a person fills them in and sends again; the client never gets less than it
        asked for."""
        try:
            source = einvoice.einvoice_source(self.db.uow(), delivery.MAILER, invoice_id)
        except BillingError as e:
            if e.code == "einvoice.no_format":
                return self.renderer.pdf(attempt.document), None
            raise PermanentFailure(f"the client's e-invoice cannot be made: {e.message}") from e
        f = build(source, self.renderer)
        if f.media_type == "application/pdf":
            return f.content, None
        return self.renderer.pdf(attempt.document), f

    def _reminder(self, order: InvoiceReminder) -> None:
        """A dunning reminder (queued once per invoice and step); skipped if the invoice was paid meanwhile. A 4xx or
        a refused connection raises, so the outbox retries; a 5xx (or no address) flags the invoice's delivery
        `failed`, audited and notified, and is not retried (it would only be refused again)."""
        invoice_id, step = order.invoice_id, order.step
        if not reminders.reminder_still_due(self.db.uow(), invoice_id):
            reminders.record_reminder(self.db.uow(), invoice_id, step, "skipped", "nothing is owed any more")
            return
        system = Actor.system("dunning")
        doc = documents.invoice_document(self.db.uow(), system, invoice_id)
        token = documents.hosted_token(self.db.uow(), system, invoice_id)
        recipients = list(doc.recipients)  # the client's contacts now (the document itself is frozen)
        if not recipients:
            reminders.record_reminder_failed(self.db.uow(), invoice_id, step,
                                             "the client has no billing e-mail address")
            return
        subject, body = self.renderer.email(doc, "reminder", f"{self.settings.public_url.rstrip('/')}/i/{token}", step)
        msg = EmailMessage()
        msg["From"], msg["To"] = self.settings.smtp_from, ", ".join(recipients)
        msg["Subject"] = subject
        msg["Message-ID"] = f"<inv{invoice_id}.reminder{step}@billable.invalid>"  # the same for a retry
        msg["Date"] = formatdate(localtime=False)
        msg.set_content(body)
        try:
            self._send(msg, recipients)
        except Exception as e:
            failure = _classify(e)
            if isinstance(failure, PermanentFailure):
                log.warning("invoice %s: reminder %s refused for good: %s", invoice_id, step, failure)
                reminders.record_reminder_failed(self.db.uow(), invoice_id, step, str(failure))
                return
            raise failure from e
        reminders.record_reminder(self.db.uow(), invoice_id, step, "sent")

    def _send(self, msg: EmailMessage, recipients: list[str]) -> None:
        s = self.settings
        if not s.smtp_host:
            raise PermanentFailure("no SMTP server configured (BILLABLE_SMTP_HOST)")
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout) as smtp:
            smtp.ehlo()
            if s.smtp_starttls:
                smtp.starttls()
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value() if s.smtp_password else "")
            smtp.send_message(msg, to_addrs=recipients)

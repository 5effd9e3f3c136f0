"""Bounces as standard delivery status notifications (RFC 3464): which of our messages, to whom, why."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message


@dataclass(frozen=True)
class Bounce:
    message_id: str  # the Message-ID of our original message
    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # e.g. 5.1.1
    diagnostic: str

    @property
    def permanent(self) -> bool:
        return self.action == "failed" or self.status.startswith("5")


def _strip_type(value: str) -> str:
    """`rfc822; ap@client.example` -> `ap@client.example`."""
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def parse_dsn(raw: bytes) -> list[Bounce]:
    """The failed or delayed recipients of a DSN; [] when it is not a DSN or names no original Message-ID."""
    msg = message_from_bytes(raw, policy=policy.compat32)
    if msg.get_content_type() != "multipart/report" or msg.get_param("report-type") != "delivery-status":
        return []
    original_id = ""
    blocks: list[Message] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                blocks = [b for b in payload if isinstance(b, Message)]
            elif isinstance(payload, str):  # some parsers leave it as text: the blocks are header groups
                from email.parser import HeaderParser

                blocks = [HeaderParser().parsestr(chunk) for chunk in payload.strip().split("\n\n") if chunk.strip()]
        elif ctype in ("message/rfc822", "text/rfc822-headers") and not original_id:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original_id = str(inner[0].get("Message-ID", "")).strip()
            elif isinstance(inner, str):
                from email.parser import HeaderParser

                original_id = str(HeaderParser().parsestr(inner).get("Message-ID", "")).strip()
    if not original_id:
        return []
    out = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:  # the first block is per-message
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
        action = str(block.get("Action", "")).strip().lower()
        if not recipient or action not in ("failed", "delayed"):
            continue
        out.append(Bounce(message_id=original_id, recipient=_strip_type(str(recipient)), action=action,
                          status=str(block.get("Status", "")).strip(),
                          diagnostic=_strip_type(str(block.get("Diagnostic-Code", "")))))
    return out

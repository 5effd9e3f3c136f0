"""Accounting sync (issue 16), the pure part: what a connection is, what the books hand the accounting system (a
customer, an invoice or credit memo with its lines), how a line finds its item and tax code, and the rules QuickBooks
sets on what we send (DocNumber at most 21 characters, requestid at most 50, unique per company)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Literal

QUICKBOOKS = "quickbooks"
ConnectionStatus = Literal["connected", "paused", "disconnected"]

# The outbox topics the sync consumes (fanned out into its own queue), and what each becomes there.
SYNC_TOPICS: dict[str, str] = {
    "invoice.issued": "invoice",      # an invoice or a credit note got its number: create it there
    "invoice.credited": "credit_note",  # the credit note (also issued): a CreditMemo
    "invoice.voided": "void",
    "payment.recorded": "payment",   # a payment recorded here: a Payment there, linked to the invoice
    "client.changed": "customer",     # created or updated (queued by the clients service, not an outbox topic)
}

DOC_NUMBER_MAX = 21
REQUEST_ID_MAX = 50
PAYMENT_REF_MAX = 21  # PaymentRefNum's length there (unconfirmed: the same limit as DocNumber assumed)

# A payment mapping's remote_status when the payment came FROM the accounting system (recorded here from a payment
# made there): it is there already, so it is never pushed back.
THEIRS = "theirs"
# What the inbound side wrote as the reference of a payment it recorded, before payments had mappings.
FROM_QUICKBOOKS_REFERENCE = "QuickBooks payment "

# The Item each arrangement kind's lines map to, until configured otherwise (accounting_items).
DEFAULT_ITEMS: dict[str, str] = {
    "retainer": "Retainer",
    "time_and_materials": "Time and materials",
    "milestone": "Milestone",
    "subscription": "Subscription",
    "pass_through": "Pass-through",
    "sla_credit": "SLA credit",
    "manual": "Other services",
}

# QuickBooks TaxCode per tax treatment, until configured otherwise (connection config "tax_codes"): the US-style
# "TAX"/"NON" pair; a non-US company maps "standard:<rate>" to its own codes (e.g. "standard:19": "7").
DEFAULT_TAX_CODES: dict[str, str] = {"standard": "TAX", "zero": "NON", "exempt": "NON", "reverse_charge": "NON"}


class DocNumberTooLong(ValueError):
    """Our number does not fit QuickBooks' DocNumber (21 characters)."""


def doc_number(number: str) -> str:
    """The DocNumber for our invoice number; refuses a number QuickBooks would cut (error 2050)."""
    if len(number) > DOC_NUMBER_MAX:
        raise DocNumberTooLong(f"the number {number!r} has {len(number)} characters; QuickBooks' DocNumber takes at "
                               f"most {DOC_NUMBER_MAX}: shorten the workspace's number format")
    return number


def request_id(prefix: str, queue_id: int, step: str) -> str:
    """The requestid of one write of one queued task: the same on every retry (QuickBooks replays the first
    response), different for every write. `prefix` is the connection's own, so two installs never collide."""
    rid = f"{prefix}-{queue_id}-{step}"
    if len(rid) > REQUEST_ID_MAX:
        rid = hashlib.sha256(rid.encode()).hexdigest()[:REQUEST_ID_MAX]
    return rid


def tax_key(mode: str, rate: Decimal) -> str:
    """The tax treatment of a line as a mapping key: standard, zero, exempt or reverse_charge."""
    if mode == "reverse_charge":
        return "reverse_charge"
    if mode == "exempt":
        return "exempt"
    return "standard" if rate > 0 else "zero"


def tax_code_for(mode: str, rate: Decimal, codes: dict[str, str]) -> str:
    """The TaxCode id for a line: `standard:<rate>` first (rate as written, e.g. 19 or 7.7), then the treatment."""
    key = tax_key(mode, rate)
    rate_key = f"{key}:{format(rate.normalize(), 'f')}"
    table = {**DEFAULT_TAX_CODES, **codes}
    return table.get(rate_key) or table[key]


@dataclass(frozen=True)
class PushCustomer:
    """A client as the accounting system's customer."""

    client_id: int
    display_name: str
    email: str = ""
    currency: str = ""
    street: str = ""
    city: str = ""
    postcode: str = ""
    region: str = ""
    country: str = ""
    vat_id: str = ""

    def digest(self) -> str:
        return content_hash(asdict(self))


@dataclass(frozen=True)
class PushLine:
    """One invoice line: the item (by arrangement kind), quantity, unit price and amount (net, in the currency),
    and its tax treatment and rate."""

    description: str
    item_kind: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    tax_mode: str
    tax_rate: Decimal


@dataclass(frozen=True)
class PushDocument:
    """An issued invoice or credit note as the accounting system receives it."""

    invoice_id: int
    kind: Literal["invoice", "credit_note"]
    number: str
    client_id: int
    currency: str
    issue_date: str
    due_date: str | None
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    lines: list[PushLine] = field(default_factory=list)
    corrects_invoice_id: int | None = None
    po_number: str = ""
    memo: str = ""

    def digest(self) -> str:
        return content_hash(asdict(self))


@dataclass(frozen=True)
class PushPayment:
    """A payment recorded here as the accounting system receives it: the amount applied to one invoice."""

    payment_id: int
    invoice_id: int
    client_id: int
    currency: str
    amount: Decimal
    received_on: str
    reference: str = ""

    def digest(self) -> str:
        return content_hash(asdict(self))


def payment_note(prefix: str, payment_id: int) -> str:
    """The PrivateNote of a Payment we create: it says the payment is ours (this connection's), so a webhook or
    the catch-up that brings it back before its mapping is written still knows it, and a lost answer is found."""
    return f"billable payment {payment_id} [{prefix}]"


def payment_of_note(note: object, prefix: str) -> int | None:
    """Our payment's id when a Payment's PrivateNote says it is ours (this connection's); else None."""
    if not isinstance(note, str):
        return None
    head, _, rest = note.strip().partition(" [")
    if rest != f"{prefix}]" or not head.startswith("billable payment "):
        return None
    n = head.removeprefix("billable payment ")
    return int(n) if n.isdigit() else None


def voided_there(obj: dict[str, Any]) -> bool:
    """Whether a transaction in QuickBooks is void: it zeroes the amounts and puts "Voided" before the PrivateNote
    ("Voided - billable payment 12 [b1a2]": ours always carry a note), so the note starts with it."""
    note = str(obj.get("PrivateNote") or "").strip().lower()
    try:
        zero = Decimal(str(obj.get("TotalAmt"))) == 0
    except ArithmeticError:  # decimal.InvalidOperation: no amount
        return False
    return zero and note.startswith("voided")


def content_hash(data: dict[str, Any]) -> str:
    """A stable digest of what we pushed (a re-push of the same content is a no-op)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

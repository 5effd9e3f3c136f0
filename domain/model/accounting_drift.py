"""What differs between our books and the accounting system's, and why: pure comparisons, no I/O.

Two comparisons live here. `compare_invoice` puts one of our invoices beside its copy in QuickBooks (total, status,
balance) and names the likely cause and what may be done about it: re-push ours, or accept theirs only where that
is a legal thing to do here (a payment recorded there is recorded here; a void there voids ours). An issued invoice
is never edited: a differing total is re-pushed, or corrected with a credit note. `client_changes` lists what a
customer's name, e-mail or address says there that our client does not, for a person to accept or refuse.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class Cause(StrEnum):
    NEVER_PUSHED = "never_pushed"            # issued here, never reached QuickBooks
    MISSING_THERE = "missing_there"          # it was pushed, QuickBooks no longer has it (deleted there)
    VOIDED_THERE = "voided_there"
    VOID_NOT_PUSHED = "void_not_pushed"      # voided here, still open there
    EDITED_THERE = "edited_there"            # its total or currency differs: changed there
    PAYMENT_NOT_SYNCED = "payment_not_synced"  # paid there (lower balance), not recorded here
    PAYMENT_NOT_THERE = "payment_not_there"  # paid or credited here (lower balance), not applied there
    PAYMENT_PUSH_FAILED = "payment_push_failed"  # a payment recorded here: QuickBooks refused its push


class Action(StrEnum):
    REPUSH = "repush"   # push ours again: QuickBooks gets what our books say
    ACCEPT = "accept"   # make ours agree with theirs, where that is legal (record their payments, void ours)


class Difference(BaseModel):
    model_config = ConfigDict(frozen=True)
    field: str   # total, balance, status, currency, presence
    ours: str
    theirs: str


class OurInvoice(BaseModel):
    """One of our issued invoices, as the drift report compares it (amounts as decimals of its currency)."""

    model_config = ConfigDict(frozen=True)
    invoice_id: int
    number: str
    status: str
    currency: str
    total: Decimal
    balance: Decimal
    credited: Decimal = Decimal(0)   # credit notes: QuickBooks keeps them as credit memos beside the invoice


class TheirInvoice(BaseModel):
    """The same invoice as QuickBooks has it."""

    model_config = ConfigDict(frozen=True)
    external_id: str
    doc_number: str = ""
    currency: str = ""       # "" when the company is single-currency (its home currency)
    total: Decimal
    balance: Decimal
    voided: bool = False
    customer_id: str = ""


class DriftItem(BaseModel):
    invoice_id: int
    number: str
    external_id: str | None
    currency: str
    cause: Cause
    explanation: str
    differences: list[Difference]
    actions: list[Action]


def _money(d: Decimal) -> str:
    return format(d, "f")


def their_state(t: TheirInvoice) -> str:
    if t.voided:
        return "void"
    return "paid" if t.balance == 0 and t.total > 0 else ("partially_paid" if t.balance < t.total else "open")


def our_state(o: OurInvoice) -> str:
    if o.status == "void":
        return "void"
    # uncollectible is ours alone (QuickBooks has no write-off status): compared by its balance
    return "paid" if o.balance == 0 else ("partially_paid" if o.balance < o.total else "open")


def compare_invoice(ours: OurInvoice, theirs: TheirInvoice | None, mapped: bool, *, payment_refused: str = "",
                    payments_here: bool = False) -> DriftItem | None:
    """The difference between our invoice and theirs with its likely cause and the legal actions; None: the same.

    `mapped` says whether the invoice was ever pushed (our id <-> their id); `theirs` is None when QuickBooks does
    not have it (any more). `payment_refused` is QuickBooks' reason when the push of a payment recorded on it here
    was refused; `payments_here` says whether payments recorded here (not from QuickBooks) could be pushed."""
    def item(cause: Cause, why: str, diffs: list[Difference], actions: list[Action]) -> DriftItem:
        return DriftItem(invoice_id=ours.invoice_id, number=ours.number, external_id=theirs.external_id if theirs
                         else None, currency=ours.currency, cause=cause, explanation=why, differences=diffs,
                         actions=actions)

    if not mapped:
        return item(Cause.NEVER_PUSHED, f"{ours.number} was issued here and never reached QuickBooks: re-push it.",
                    [Difference(field="presence", ours="issued", theirs="absent")], [Action.REPUSH])
    if theirs is None:
        return item(Cause.MISSING_THERE, f"{ours.number} was pushed, but QuickBooks no longer has it (deleted "
                    "there?): re-push it.", [Difference(field="presence", ours="issued", theirs="absent")],
                    [Action.REPUSH])
    ours_s, theirs_s = our_state(ours), their_state(theirs)
    diffs: list[Difference] = []
    if ours_s != theirs_s:
        diffs.append(Difference(field="status", ours=ours_s, theirs=theirs_s))
    if ours.status == "void" and not theirs.voided:
        return item(Cause.VOID_NOT_PUSHED, f"{ours.number} is void here and still open in QuickBooks: re-push the "
                    "void.", diffs, [Action.REPUSH])
    if theirs.voided:
        if ours.status == "void":
            return None
        return item(Cause.VOIDED_THERE, f"{ours.number} was voided in QuickBooks. Accepting voids it here too "
                    "(allowed only while no payment is recorded on it); QuickBooks cannot un-void it, so if ours "
                    "is right, issue it again there by hand.", diffs, [Action.ACCEPT])
    if theirs.currency and theirs.currency != ours.currency:
        diffs.append(Difference(field="currency", ours=ours.currency, theirs=theirs.currency))
    if theirs.total != ours.total:
        diffs.append(Difference(field="total", ours=_money(ours.total), theirs=_money(theirs.total)))
    if any(d.field in ("total", "currency") for d in diffs):
        gap = ours.total - theirs.total
        fix = (f"if theirs is right, issue a credit note for {_money(gap)} {ours.currency} here" if gap > 0 else
               f"if theirs is right, invoice the further {_money(-gap)} {ours.currency} here" if gap < 0 else
               "if theirs is right, credit this invoice in full and issue it again in their currency")
        if theirs.balance != ours.balance:
            diffs.append(Difference(field="balance", ours=_money(ours.balance), theirs=_money(theirs.balance)))
        return item(Cause.EDITED_THERE, f"{ours.number} was edited in QuickBooks. An issued invoice is never "
                    f"edited here: re-push ours to put it back there, or {fix} (then re-push).", diffs,
                    [Action.REPUSH])
    # A credit note is a credit memo there, applied to the invoice only when the customer pays: both balances fit.
    if theirs.balance not in (ours.balance, ours.balance + ours.credited):
        diffs.append(Difference(field="balance", ours=_money(ours.balance), theirs=_money(theirs.balance)))
        if theirs.balance < ours.balance:
            return item(Cause.PAYMENT_NOT_SYNCED, f"{_money(ours.balance - theirs.balance)} {ours.currency} was "
                        f"paid on {ours.number} in QuickBooks and is not recorded here. Accepting reads those "
                        "payments and records them here (anything that does not fit is parked for a person).",
                        diffs, [Action.ACCEPT])
        owed = f"{_money(theirs.balance - ours.balance)} {ours.currency}"
        if payment_refused:
            return item(Cause.PAYMENT_PUSH_FAILED, f"{owed} was paid on {ours.number} here, and QuickBooks refused "
                        f"the payment's push ({payment_refused}). Fix that cause, then re-push: the payment goes "
                        "there again.", diffs, [Action.REPUSH])
        if payments_here:
            return item(Cause.PAYMENT_NOT_THERE, f"{owed} was paid on {ours.number} here and is not applied in "
                        "QuickBooks (recorded before it was connected, or deleted there?). Re-pushing sends the "
                        "payments recorded here that QuickBooks lacks (one already there is not sent twice).",
                        diffs, [Action.REPUSH])
        # nothing of ours to push: a payment made there and applied here from Payments parked, or a credit note
        return item(Cause.PAYMENT_NOT_THERE, f"{owed} was paid or credited on {ours.number} here and is not applied "
                    "in QuickBooks, and no payment recorded here is left to push (a payment made in QuickBooks "
                    "and applied here from Payments parked?): apply that payment to the invoice in QuickBooks.",
                    diffs, [])
    return None


# ---- customers -------------------------------------------------------------------------------------------------


CLIENT_FIELDS = ("name", "email", "street", "additional", "postcode", "city", "region", "country")


def _text(v: object) -> str:
    return v.strip() if isinstance(v, str) else ""


def customer_fields(customer: dict[str, Any]) -> dict[str, str]:
    """Our names for what a QuickBooks Customer says: name, e-mail, billing address."""
    addr = customer.get("BillAddr") or {}
    email = customer.get("PrimaryEmailAddr") or {}
    country = _text(addr.get("Country")) if isinstance(addr, dict) else ""
    if not isinstance(addr, dict):
        addr = {}
    return {"name": _text(customer.get("CompanyName")) or _text(customer.get("DisplayName")),
            "email": _text(email.get("Address")) if isinstance(email, dict) else "",
            "street": _text(addr.get("Line1")), "additional": _text(addr.get("Line2")),
            "postcode": _text(addr.get("PostalCode")), "city": _text(addr.get("City")),
            "region": _text(addr.get("CountrySubDivisionCode")),
            # our clients hold ISO codes; QuickBooks holds free text: only a two-letter code is comparable
            "country": country.upper() if len(country) == 2 and country.isalpha() else ""}


def client_changes(ours: dict[str, str], theirs: dict[str, str]) -> dict[str, dict[str, str]]:
    """Fields where theirs says something else than ours: {field: {"ours", "theirs"}}. A field empty there is not a
    change (QuickBooks cannot tell "cleared" from "never sent"); e-mails compare without case."""
    out: dict[str, dict[str, str]] = {}
    for f in CLIENT_FIELDS:
        t, o = theirs.get(f, "").strip(), ours.get(f, "").strip()
        if not t:
            continue
        same = t.casefold() == o.casefold() if f == "email" else t == o
        if not same:
            out[f] = {"ours": o, "theirs": t}
    return out


def amount(v: object, field: str = "amount") -> Decimal:
    """An amount as QuickBooks sends it (a JSON number or a string) as a Decimal; ValueError when it is not one."""
    if isinstance(v, bool) or v is None:
        raise ValueError(f"{field} is missing")
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        raise ValueError(f"{field} is not a number: {v!r}") from None
    if not d.is_finite():
        raise ValueError(f"{field} is not a finite number")
    return d

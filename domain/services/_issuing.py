"""The one issuing step: every door and every path that issues an invoice goes through `issue`.

`issue_invoice` and `approve_invoice` (HTTP, CLI, agent, dashboard, Slack), the month-end billing run and the rules
all hand their drafts to `issue`, which runs the checks and decides, for each invoice:

* block: a person asked (a door) -> refused with the reasons (`CheckBlocked`), nothing changed; unattended (a
  run, a rule) -> stays a draft with its reasons, audited `invoice.blocked`, and `invoice.blocked` is announced;
* flag: pending_approval, audited `invoice.flagged`, `approval.requested` announced (once; pilot mode holds it
  quietly); an approval accepts flags, and only flags;
* clean: numbered (gapless, the series counter taken once for the whole list), dated, frozen, audited
  `invoice.issued`, `invoice.issued` announced (and `invoice.paid` when nothing is owed), then e-mailed when the
  workspace (or the rule) sends on issue. A rule that holds clean drafts leaves them drafts, `review.requested`.

Everything happens in the caller's transaction. The events are the catalogue's (`domain.model.outbox_events`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.errors import CheckBlocked
from domain.model import numbering, snapshot
from domain.model.checks import CheckInput, CheckResult, Outcome, run_checks, verdict
from domain.model.lifecycle import Status, check_transition
from domain.model.money import Money, minor_exponent, minor_to_text, round_money
from domain.model.outbox_events import (
    ApprovalDecided,
    ApprovalRequested,
    BookEvent,
    CardLine,
    Finding,
    InvoiceBlocked,
    InvoiceIssued,
    InvoicePaid,
    IssuePath,
    ReviewRequested,
)
from domain.model.parties import Buyer, Seller
from domain.model.roles import Actor
from domain.model.tax import TaxMode, TaxProfile, TaxRounding, invoice_totals, line_tax
from domain.services._context import History, load_history
from domain.services.outbox import emit_many
from domain.services.parties import buyer_of, seller_of
from domain.store.tables import ClientRow, InvoiceRow, WorkspaceRow
from domain.store.uow import UnitOfWork

CARD_LINES = 40  # lines carried to an approval card; the card folds long invoices further


@dataclass(frozen=True, slots=True)
class Decided:
    """What the step did with one invoice: its checks' verdict, and whether it was issued."""

    invoice: InvoiceRow
    outcome: Outcome
    results: list[CheckResult]
    issued: bool


# ---- shared invoice arithmetic and summaries ---------------------------------------------------------------------


def _summary(inv: InvoiceRow) -> dict[str, Any]:
    """What the audit log keeps of an invoice's state: enough to tell the story, small enough to keep."""
    cur = inv.currency
    return {"status": inv.status, "number": inv.number, "client_id": inv.client_id, "currency": cur,
            "period": [str(inv.period_start), str(inv.period_end)] if inv.period_start else None,
            "total": minor_to_text(inv.total_minor, cur),
            "balance": minor_to_text(inv.total_minor - inv.paid_minor - inv.credited_minor, cur),
            "lines": len(inv.lines)}


def _to_minor(amount: Decimal, currency: str) -> int:
    return int(round_money(amount, currency).scaleb(minor_exponent(currency)))


def _profile(client: ClientRow) -> TaxProfile:
    return TaxProfile.model_validate(client.tax_profile or {})


def _recompute(inv: InvoiceRow, ws: WorkspaceRow, credit_note: bool = False) -> None:
    """Subtotal, per-rate tax and total from the lines (BR-CO-17: invoice tax = sum of per-rate tax).

    A credit note carries one line per rate whose tax is the share of the invoice's tax it gives back; rounding
    that again (per invoice) could make the note a cent larger than the amount credited, so it is taken as is.
    """
    cur = inv.currency
    exp = minor_exponent(cur)
    triples = [(Decimal(ln.amount_minor).scaleb(-exp), Decimal(ln.tax_rate), Decimal(ln.tax_minor).scaleb(-exp))
               for ln in inv.lines]
    rounding = TaxRounding.PER_LINE if credit_note else TaxRounding(ws.tax_rounding)
    totals = invoice_totals(triples, cur, rounding)
    inv.subtotal_minor = _to_minor(totals.subtotal, cur)
    inv.tax_minor = _to_minor(totals.tax, cur)
    inv.total_minor = inv.subtotal_minor + inv.tax_minor
    inv.tax_breakdown = [{"rate": format(g.rate.normalize(), "f"), "taxable": Money(g.taxable, cur).text,
                          "tax": Money(g.tax, cur).text} for g in totals.by_rate]


def _retax(inv: InvoiceRow, profile: TaxProfile, ws: WorkspaceRow, buyer_vat_id: str = "",
           buyer_country: str = "") -> None:
    """Tax a draft's lines at the client's current treatment, as it is issued: a change of tax profile (or of the
    workspace's rounding) between drafting and issuing must not issue the old VAT or miss the legal note."""
    cur = inv.currency
    exp = minor_exponent(cur)
    for ln in inv.lines:
        rate = profile.rate_for(ln.section)
        ln.tax_rate = format(rate.normalize(), "f")
        ln.tax_minor = _to_minor(line_tax(Decimal(ln.amount_minor).scaleb(-exp), rate, cur), cur)
    inv.tax_note = profile.invoice_note(buyer_vat_id, buyer_country)
    _recompute(inv, ws)


def _text(minor: int, currency: str) -> str:
    return minor_to_text(minor, currency)


def _period(inv: InvoiceRow) -> list[str] | None:
    return [str(inv.period_start), str(inv.period_end)] if inv.period_start else None


def _findings(results: Sequence[CheckResult] | list[dict[str, str]], outcome: Outcome) -> list[Finding]:
    rows = [r.as_json() if isinstance(r, CheckResult) else r for r in results]
    return [Finding.model_validate(r) for r in rows if r.get("outcome") == outcome.value]


def _ref(inv: InvoiceRow, client_name: str) -> dict[str, Any]:
    """The fields every invoice event carries."""
    return {"invoice_id": inv.id, "number": inv.number, "kind": inv.kind, "status": inv.status,
            "client_id": inv.client_id, "client_name": client_name, "currency": inv.currency,
            "total": _text(inv.total_minor, inv.currency)}


def client_name_of(uow: UnitOfWork, inv: InvoiceRow) -> str:
    """The buyer's name as the invoice says it: frozen once issued, the client's own while a draft."""
    if inv.snapshot:
        return str(inv.snapshot["buyer"]["name"])
    client = uow.clients.get(inv.client_id)
    return client.name if client else "?"


def approval_payload(uow: UnitOfWork, inv: InvoiceRow) -> ApprovalRequested:
    """What an approver needs to decide: client, totals, period, each flag with its reason, the lines."""
    cur = inv.currency
    requester = uow.users.get(inv.requested_by_user_id) if inv.requested_by_user_id else None
    return ApprovalRequested(
        **_ref(inv, client_name_of(uow, inv)), subtotal=_text(inv.subtotal_minor, cur), tax=_text(inv.tax_minor, cur),
        period=_period(inv), flags=_findings(inv.checks or [], Outcome.FLAG),
        lines=[CardLine(description=ln.description, amount=_text(ln.amount_minor, cur), manual=ln.manual)
               for ln in inv.lines[:CARD_LINES]],
        line_count=len(inv.lines), requested_by=requester.email if requester else None)


def decided_event(uow: UnitOfWork, actor: Actor, inv_id: int, decision: str, number: str | None, status: str,
                  reason: str = "") -> ApprovalDecided:
    """How an approval ended (approved, rejected, discarded), whoever decided and through whichever door, so the
    card that asked is updated in place."""
    return ApprovalDecided.model_validate({
        "invoice_id": inv_id, "decision": decision, "number": number, "status": status, "reason": reason,
        "by": actor.email or actor.label, "at": uow.clock.now().isoformat()})


# ---- frozen at issue -----------------------------------------------------------------------------------------------


def _language(locale: str) -> str:
    return locale.replace("-", "_").split("_")[0].lower() or "en"


def seller_snapshot(ws: WorkspaceRow, seller: Seller | None = None) -> dict[str, Any]:
    """The seller as the workspace row says now, as a snapshot stores it (`snapshot.Seller` as JSON): its name and
    every party field it has (`parties.Seller`; `seller` when already read)."""
    return {"name": ws.name, **(seller if seller is not None else seller_of(ws)).model_dump(mode="json")}


def buyer_snapshot(client: ClientRow, buyer: Buyer | None = None) -> dict[str, Any]:
    """The buyer as the client row says now, as a snapshot stores it (`snapshot.Buyer` as JSON): its name, billing
    contacts and every party field it has (`buyer` when already read)."""
    return {"name": client.name, "client_id": client.id, "billing_emails": [str(e) for e in client.billing_emails],
            **(buyer if buyer is not None else buyer_of(client)).model_dump(mode="json")}


def _copy(party: dict[str, Any]) -> dict[str, Any]:
    """A party's JSON shared by a run's invoices, copied so no two invoices hold the same (nested) dicts."""
    return {k: dict(v) if isinstance(v, dict) else v for k, v in party.items()}


def _day(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def freeze(inv: InvoiceRow, client: ClientRow, ws: WorkspaceRow, corrects: InvoiceRow | None = None, *,
           seller: dict[str, Any] | None = None, buyer: Buyer | None = None, profile: TaxProfile | None = None,
           ) -> None:
    """Store what a just-numbered invoice or credit note says (`domain.model.snapshot`): from now on every door
    reads its parties and terms from here. A credit note keeps the tax treatment of the invoice it corrects.

    Written as the JSON `snapshot.InvoiceSnapshot.model_dump(mode="json")` gives, key for key, from values that were
    checked when they were entered (a run freezes thousands: validating each snapshot again was most of its cost).
    `seller` (`seller_snapshot`), `buyer` (`parties.Buyer`) and the client's tax `profile`: already read by the
    caller."""
    assert inv.number is not None and inv.issue_date is not None
    cur = inv.currency
    profile = profile if profile is not None else _profile(client)
    original = (snapshot.InvoiceSnapshot.model_validate(corrects.snapshot)
                if corrects is not None and corrects.snapshot else None)
    mode = original.terms.tax_mode if original is not None else profile.mode
    party = buyer_snapshot(client, buyer)
    locale = client.locale or ws.locale
    credit = inv.kind == "credit_note"
    tax_profile = copy.deepcopy(original.terms.tax_profile) if original is not None else profile.as_json()
    terms = {
        "currency": cur, "issue_date": inv.issue_date.isoformat(),
        "due_date": None if credit else _day(inv.due_date),
        "payment_terms_days": None if credit else client.payment_terms_days, "po_number": inv.po_number,
        "period_start": _day(inv.period_start), "period_end": _day(inv.period_end), "locale": locale,
        "language": str(party.get("language") or _language(locale)), "tax_mode": mode.value,
        "reverse_charge": mode == TaxMode.REVERSE_CHARGE, "tax_note": inv.tax_note, "tax_rounding": ws.tax_rounding,
        "tax_profile": tax_profile, "corrects_number": corrects.number if corrects is not None else None,
        "corrects_issue_date": _day(corrects.issue_date) if corrects is not None else None,
        "reason": inv.reason if credit else ""}
    reason, code = snapshot.exemption(mode, str(tax_profile.get("exemption_reason", "")))
    categories: dict[str, str] = {}  # rate -> UNCL5305 category, for this invoice's treatment

    def category(rate: str) -> str:
        if rate not in categories:
            categories[rate] = snapshot.tax_category(mode, Decimal(rate))
        return categories[rate]

    lines = [{"position": ln.position, "description": ln.description, "quantity": ln.quantity, "unit": ln.unit,
              "unit_price": minor_to_text(ln.unit_price_minor, cur), "amount": minor_to_text(ln.amount_minor, cur),
              "tax_rate": ln.tax_rate, "tax_category": category(ln.tax_rate),
              "tax": minor_to_text(ln.tax_minor, cur), "section": ln.section} for ln in inv.lines]
    groups = []
    for g in inv.tax_breakdown:
        untaxed = Decimal(g["tax"]) == 0
        groups.append({"category": category(g["rate"]), "rate": g["rate"], "taxable": g["taxable"], "tax": g["tax"],
                       "exemption_reason": reason if untaxed else "", "exemption_code": code if untaxed else ""})
    inv.snapshot = {
        "schema_version": snapshot.SCHEMA_VERSION, "kind": "credit_note" if credit else "invoice", "number": inv.number,
        "seller": _copy(seller) if seller is not None else seller_snapshot(ws), "buyer": party, "terms": terms,
        "lines": lines, "tax": groups,
        "totals": {"net": minor_to_text(inv.subtotal_minor, cur), "tax": minor_to_text(inv.tax_minor, cur),
                   "gross": minor_to_text(inv.total_minor, cur)}}


# ---- checks, numbers, issue --------------------------------------------------------------------------------------


def history_for(uow: UnitOfWork, client_ids: list[int], period_start: date, ws: WorkspaceRow) -> History:
    return load_history(uow, client_ids, period_start, uow.clock.now() - timedelta(days=ws.duplicate_days))


def _check_input(uow: UnitOfWork, inv: InvoiceRow, client: ClientRow, ws: WorkspaceRow,
                 history: History, seller: Seller | None = None, buyer: Buyer | None = None,
                 profile: TaxProfile | None = None) -> CheckInput:
    now = uow.clock.now()
    threshold = ws.approval_thresholds.get(inv.currency)
    return CheckInput(
        currency=inv.currency, client_currency=client.currency, line_currencies={inv.currency},
        line_amounts=[ln.amount_minor for ln in inv.lines], subtotal=inv.subtotal_minor,
        tax_by_rate=[_to_minor(Decimal(g["tax"]), inv.currency) for g in inv.tax_breakdown],
        tax_total=inv.tax_minor, total=inv.total_minor, billing_emails=list(client.billing_emails),
        po_required=client.po_required, po_number=inv.po_number or client.po_number,
        manual_lines=sum(1 for ln in inv.lines if ln.manual), capped=inv.capped,
        previous_total=history.previous_total.get(client.id),
        recent_same_total=[n for t, n in history.recent_totals.get(client.id, []) if t == inv.total_minor],
        first_for_client=client.id not in history.has_issued,
        approval_threshold=Money.parse(threshold, inv.currency).minor if threshold else None,
        deviation_pct=Decimal(ws.deviation_pct), duplicate_days=ws.duplicate_days, issue_date=now.date(),
        seller=seller if seller is not None else seller_of(ws), buyer=buyer if buyer is not None else buyer_of(client),
        client_id=client.id,
        reverse_charge=(profile if profile is not None else _profile(client)).mode == TaxMode.REVERSE_CHARGE)


def take_numbers(uow: UnitOfWork, fmt: str, count: int) -> list[str]:
    """Consecutive numbers of a series, taken inside this transaction: a rollback gives them back, so no gap."""
    if count == 0:
        return []
    today = uow.clock.today()
    first = uow.counters.take(numbering.series_key(fmt, today), count)
    return [numbering.render(fmt, today, first + i) for i in range(count)]


def _finalize(uow: UnitOfWork, inv: InvoiceRow, client: ClientRow, ws: WorkspaceRow, number: str, *,
              seller: dict[str, Any] | None = None, buyer: Buyer | None = None, profile: TaxProfile | None = None,
              ) -> None:
    """Number, date, freeze and issue a checked invoice (`seller`, `buyer`: as `freeze` takes them)."""
    check_transition(inv.status, Status.ISSUED)
    today = uow.clock.today()
    inv.number = number
    inv.status = Status.ISSUED.value
    inv.issue_date = today
    inv.due_date = today + timedelta(days=client.payment_terms_days)
    inv.issued_at = uow.clock.now()
    if not inv.po_number and client.po_number:
        inv.po_number = client.po_number
    freeze(inv, client, ws, seller=seller, buyer=buyer, profile=profile)
    if inv.total_minor - inv.paid_minor - inv.credited_minor == 0:
        # Nothing is owed (credits ate the month): settled at once, never an open invoice nobody can pay.
        check_transition(inv.status, Status.PAID)
        inv.status = Status.PAID.value


def _blocked(results: list[CheckResult]) -> CheckBlocked:
    reasons = [r for r in results if r.outcome == Outcome.BLOCK]
    details: dict[str, Any] = {"checks": [r.as_json() for r in reasons]}
    missing = [f for r in reasons for f in r.fields]
    if missing:
        details["missing"] = missing  # "seller.vat_id", "buyer.address.postcode": what to fill in
    return CheckBlocked("cannot issue: " + "; ".join(r.reason for r in reasons), details=details)


def _send_on_issue(uow: UnitOfWork, actor: Actor, inv: InvoiceRow, send: bool | None = None) -> None:
    """Just issued: queue its e-mail through the delivery service, in this same transaction, when the workspace's
    `send_on_issue` (or `send`, a rule's own choice) says so. A client without a billing address does not stop
    the issue: the skip is audited, and the missing-contact check has flagged it already."""
    from domain.services import delivery  # delivery -> documents -> views: imported where it is used

    if inv.kind != "invoice" or inv.status != Status.ISSUED.value:
        return  # a credit note, or settled at issue (nothing owed): nothing to send
    if not (uow.workspace.get().send_on_issue if send is None else send):
        return
    client = uow.clients.get(inv.client_id)
    if client is None or not client.billing_emails:
        uow.audit.record(actor, "invoice.delivery_skipped", "invoice", inv.id,
                         after={"client_id": inv.client_id, "reason": "the client has no billing e-mail address"})
        return
    delivery.send_invoice(uow, actor, inv.id)


def request_approval(uow: UnitOfWork, actor: Actor, inv: InvoiceRow, results: list[CheckResult],
                     before: dict[str, Any] | None = None) -> None:
    """A flagged draft waits for an approver: its checks, the status and the audit entry (the caller announces)."""
    before = before if before is not None else _summary(inv)
    inv.checks = [r.as_json() for r in results]
    check_transition(inv.status, Status.PENDING_APPROVAL)
    inv.status = Status.PENDING_APPROVAL.value
    uow.audit.record(actor, "invoice.flagged", "invoice", inv.id, before=before,
                     after={**_summary(inv), "flags": [r.as_json() for r in results if r.outcome == Outcome.FLAG]})


def issue(uow: UnitOfWork, actor: Actor, invoices: Sequence[InvoiceRow], *, via: IssuePath, unattended: bool = False,
          hold: str | None = None, quiet: bool = False, send: bool | None = None, retax: bool = True,
          approval_note: str | None = None, clients: dict[int, ClientRow] | None = None,
          history: History | None = None) -> list[Decided]:
    """Check, decide and issue `invoices` (drafts; pending ones when `approval_note` is given: an approval).

    `unattended`: a block is recorded on the draft and announced instead of refused. `hold`: clean drafts stay
    drafts, a person reviews them (`review.requested` with that reason). `quiet` (pilot mode): hold everything and
    announce nothing. `send`: the rule's own send-on-issue (None: the workspace's). `retax`: tax the lines at the
    client's current profile first (off for drafts made in this transaction). `clients`/`history`: already loaded.
    The caller checks the actor's permission and the invoices' state; the caller commits.
    """
    ws = uow.workspace.get()
    by_id = dict(clients or {})
    missing = sorted({inv.client_id for inv in invoices} - set(by_id))
    if missing:
        by_id.update({c.id: c for c in uow.clients.get_many(missing)})
    if history is None:
        anchors = {inv.period_start or uow.clock.today() for inv in invoices}
        histories = {a: history_for(uow, sorted({i.client_id for i in invoices
                                                 if (i.period_start or uow.clock.today()) == a}), a, ws)
                     for a in anchors}
    seller = seller_of(ws)  # once: a run checks thousands of invoices against the same seller
    approving = approval_note is not None
    decided: list[Decided] = []
    events: list[BookEvent] = []
    clean: list[tuple[InvoiceRow, dict[str, Any], list[CheckResult], Buyer, TaxProfile]] = []
    for inv in invoices:
        client = by_id[inv.client_id]
        before = _summary(inv)
        profile = _profile(client)  # once, as the buyer: checked now, frozen into the invoice if it is issued
        if retax:
            _retax(inv, profile, ws, client.vat_id, client.address_country)
        hist = history if history is not None else histories[inv.period_start or uow.clock.today()]
        buyer = buyer_of(client)
        results = run_checks(_check_input(uow, inv, client, ws, hist, seller, buyer, profile))
        outcome = verdict(results)
        if outcome == Outcome.BLOCK and not unattended:
            raise _blocked(results)
        inv.checks = [r.as_json() for r in results]
        if outcome == Outcome.BLOCK:
            uow.audit.record(actor, "invoice.blocked", "invoice", inv.id, after={
                **_summary(inv), "blocks": [r.as_json() for r in results if r.outcome == Outcome.BLOCK]})
            if not quiet:
                events.append(InvoiceBlocked(**_ref(inv, client.name), period=_period(inv),
                                             checks=_findings(results, Outcome.BLOCK)))
        elif outcome == Outcome.FLAG and not approving:
            request_approval(uow, actor, inv, results, before)
            if not quiet:
                events.append(approval_payload(uow, inv))
        elif quiet or hold is not None:
            if not quiet:
                events.append(ReviewRequested(**_ref(inv, client.name), period=_period(inv), reason=hold or ""))
        else:
            clean.append((inv, before, results, buyer, profile))
            continue
        decided.append(Decided(inv, outcome, results, False))
    seller_doc = seller_snapshot(ws, seller) if clean else None
    numbers = take_numbers(uow, ws.invoice_number_format, len(clean))
    for (inv, before, results, buyer, profile), number in zip(clean, numbers, strict=True):
        client = by_id[inv.client_id]
        if approving:
            inv.approved_by_user_id = actor.user_id
            uow.audit.record(actor, "invoice.approved", "invoice", inv.id, before=before, after={
                "note": approval_note, "flags": [r.as_json() for r in results if r.outcome == Outcome.FLAG]})
        _finalize(uow, inv, client, ws, number, seller=seller_doc, buyer=buyer, profile=profile)
        uow.audit.record(actor, "invoice.issued", "invoice", inv.id, before=before, after=_summary(inv))
        if approving:
            events.append(decided_event(uow, actor, inv.id, "approved", inv.number, inv.status, approval_note or ""))
        events.append(_issued_event(inv, client.name, via))
        if inv.status == Status.PAID.value:
            events.append(InvoicePaid(**_ref(inv, client.name), by="nothing_owed"))
        decided.append(Decided(inv, verdict(results), results, True))
    emit_many(uow, events)
    issued = [d.invoice for d in decided if d.issued]
    if issued and (send if send is not None else ws.send_on_issue):
        uow.flush()
        for inv in issued:
            _send_on_issue(uow, actor, inv, send)
    return decided


def _issued_event(inv: InvoiceRow, client_name: str, via: IssuePath) -> InvoiceIssued:
    cur = inv.currency
    assert inv.issue_date is not None
    return InvoiceIssued(**_ref(inv, client_name), subtotal=_text(inv.subtotal_minor, cur),
                         tax=_text(inv.tax_minor, cur),
                         balance=_text(inv.total_minor - inv.paid_minor - inv.credited_minor, cur),
                         issue_date=inv.issue_date, due_date=inv.due_date, period=_period(inv), via=via,
                         po_number=inv.po_number)

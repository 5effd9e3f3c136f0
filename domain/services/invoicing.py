"""The invoice use cases: draft, edit, issue, approve, reject, discard, void, write off, pay, credit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.errors import BadTransition, Conflict, Forbidden, NotFound, ValidationFailed
from domain.model.lifecycle import IMMUTABLE, OPEN, Status, check_transition
from domain.model.lines import SECTIONS, DraftLine, line_text
from domain.model.money import Money, minor_exponent, parse_decimal, round_money
from domain.model.outbox_events import (
    ApprovalDecided,
    ApprovalRequested,
    InvoiceCredited,
    InvoicePaid,
    InvoiceUncollectible,
    InvoiceVoided,
    PaymentRecorded,
)
from domain.model.periods import check_window
from domain.model.roles import Actor, Perm
from domain.model.tax import TaxProfile, line_tax
from domain.services import _issuing
from domain.services._auth import client_scope, load_client, require
from domain.services._context import BillingContext, load_context
from domain.services._drafting import build_lines
from domain.services._issuing import (  # shared with the billing run and the rules; re-exported for them
    _profile as _profile,
)
from domain.services._issuing import (
    _recompute as _recompute,
)
from domain.services._issuing import (
    _ref,
    _summary,
    _to_minor,
    client_name_of,
    decided_event,
    take_numbers,
)
from domain.services._issuing import (
    approval_payload as approval_payload,  # the Slack channel rebuilds a decided card from it
)
from domain.services.clients import refuse_archived
from domain.services.outbox import emit
from domain.services.views import InvoiceView
from domain.store.rows import new_row
from domain.store.tables import ClientRow, InvoiceLineRow, InvoiceRow, PaymentRow, WorkspaceRow
from domain.store.uow import UnitOfWork

APPROVAL_REQUESTED = ApprovalRequested.topic  # the approvals channel shows a card, then its outcome
APPROVAL_DECIDED = ApprovalDecided.topic
PAYMENT_RECORDED = PaymentRecorded.topic


class DraftView(InvoiceView):
    """A draft, and whether this call made it (False: the open draft for that period already existed)."""

    created: bool


def _view(uow: UnitOfWork, inv: InvoiceRow, with_lines: bool = True, detail: bool = False) -> InvoiceView:
    client = uow.clients.get(inv.client_id)
    return InvoiceView.of(inv, client.name if client else "?", uow.clock.today(),
                          list(uow.invoices.payments(inv.id)) if detail else None,
                          list(uow.invoices.credit_notes(inv.id)) if detail else None, with_lines)


def _load(uow: UnitOfWork, actor: Actor, invoice_id: int, for_update: bool = True) -> InvoiceRow:
    inv = uow.invoices.get(invoice_id, for_update=for_update)
    scope = client_scope(actor)
    if inv is None or (scope is not None and inv.client_id not in scope):
        raise NotFound(f"no invoice with id {invoice_id}", code="invoice.not_found", field="invoice_id")
    return inv


def _line_rows(currency: str, lines: list[DraftLine], profile: TaxProfile, first: int, actor: Actor | None = None,
               ) -> list[InvoiceLineRow]:
    """Draft lines as new line rows, numbered from `first`, each taxed at its section's rate."""
    exp = minor_exponent(currency)
    rates: dict[str, tuple[Decimal, str]] = {}  # section -> its rate, and as text
    rows = []
    for pos, d in enumerate(lines, first):
        if d.section not in rates:
            rate = profile.rate_for(d.section)
            rates[d.section] = rate, format(rate.normalize(), "f")
        rate, rate_text = rates[d.section]
        amount = _to_minor(d.amount, currency)
        rows.append(new_row(InvoiceLineRow, {
            "position": pos, "section": d.section, "description": d.description,
            "quantity": format(d.quantity.normalize(), "f"), "unit": d.unit,
            "unit_price_minor": _to_minor(d.unit_price, currency), "amount_minor": amount, "tax_rate": rate_text,
            "tax_minor": _to_minor(line_tax(Decimal(amount).scaleb(-exp), rate, currency), currency),
            "arrangement_id": d.arrangement_id, "source": d.source, "manual": d.manual,
            "added_by_user_id": actor.user_id if (actor and d.manual) else None}))
    return rows


def _add_lines(inv: InvoiceRow, lines: list[DraftLine], profile: TaxProfile, actor: Actor | None = None) -> None:
    """Add lines to a draft after its own (a stored draft's are inserted at the next flush)."""
    pos = max((ln.position for ln in inv.lines), default=0)
    inv.lines.extend(_line_rows(inv.currency, lines, profile, pos + 1, actor))


def new_draft(actor: Actor, client: ClientRow, start: date, end: date, ctx: BillingContext, ws: WorkspaceRow,
              now: datetime) -> tuple[InvoiceRow, list[tuple[str, int, str]]] | None:
    """A draft built from the pre-loaded context (not yet stored) and the keys it claims; None if nothing is due."""
    lines, capped = build_lines(ctx, client, start, end)
    if not lines:
        return None
    profile = _profile(client)
    inv = new_row(InvoiceRow, {
        "client_id": client.id, "kind": "invoice", "status": Status.DRAFT.value, "currency": client.currency,
        "period_start": start, "period_end": end,
        "tax_note": profile.invoice_note(client.vat_id, client.address_country), "po_number": client.po_number,
        "requested_by_user_id": actor.user_id if actor.is_person_like else None,
        "capped": capped, "created_at": now, "paid_minor": 0, "credited_minor": 0, "checks": [], "reason": ""},
        lines=_line_rows(client.currency, lines, profile, 1))
    _recompute(inv, ws)
    return inv, [c for d in lines for c in d.claims]


def _store_drafts(uow: UnitOfWork, actor: Actor, drafts: list[tuple[InvoiceRow, list[tuple[str, int, str]]]]) -> None:
    """Insert drafts and claim their work in one go; a claim already taken refuses them all (nothing written)."""
    uow.preassign_ids([inv for inv, _ in drafts])
    uow.preassign_ids([ln for inv, _ in drafts for ln in inv.lines])
    for inv, _ in drafts:
        for ln in inv.lines:
            ln.invoice_id = inv.id  # built apart from the session (`new_row`): the flush does not fill it in
    uow.session.add_all([inv for inv, _ in drafts])
    uow.flush()
    if not uow.claims.claim_many([(k, r, p, inv.id) for inv, keys in drafts for k, r, p in keys]):
        raise Conflict("some of this work was billed by another invoice a moment ago; draft again",
                       code="invoice.already_billed")
    for inv, _ in drafts:
        uow.audit.record(actor, "invoice.drafted", "invoice", inv.id, after=_summary(inv))


def _drafted(uow: UnitOfWork, inv: InvoiceRow, created: bool) -> DraftView:
    return DraftView(**dict(_view(uow, inv)), created=created)


def draft_invoice(uow: UnitOfWork, actor: Actor, client_id: int, period_start: date, period_end: date,
                  ) -> DraftView:
    """Draft the client's invoice for a period from every arrangement and unbilled work.

    Drafting the same period again returns the open draft (`created` False); nothing is ever billed twice.
    """
    require(actor, Perm.DRAFT)
    check_window(period_start, period_end)
    with uow:
        client = load_client(uow, actor, client_id)
        refuse_archived(client)
        existing = uow.invoices.open_drafts_for([client.id], period_start, period_end).get(client.id)
        if existing is not None:
            return _drafted(uow, existing, False)
        # Two workers' events of one client can cross its threshold together: without the lock, the second
        # looks for an open draft before the first commits, reads the unbilled time after it (what the first
        # draft did not claim) and drafts that too, a second draft for one crossing and one period. The lock is
        # taken only on the way to a new draft, then the look repeated (the first's commit is visible to it): the
        # many events that find the open draft take no lock, so two workers' batches, which hold these locks to
        # their commit, rarely hold two clients' locks in opposite orders (a deadlock, then a batch rerun).
        if uow.invoices.lock_drafting(client.id):
            existing = uow.invoices.open_drafts_for([client.id], period_start, period_end).get(client.id)
            if existing is not None:
                return _drafted(uow, existing, False)
        ctx = load_context(uow, [client], period_end, period_start)
        built = new_draft(actor, client, period_start, period_end, ctx, uow.workspace.get(), uow.clock.now())
        if built is None:
            # Nothing left may mean another drafter took this very period after our first look (its commit is
            # visible to a read now, on PostgreSQL): then its draft is the answer, as for a repeated draft.
            existing = uow.invoices.open_drafts_for([client.id], period_start, period_end).get(client.id)
            if existing is not None:
                return _drafted(uow, existing, False)
            raise ValidationFailed(f"nothing to bill for {client.name} between {period_start} and {period_end}: "
                                   "no period due, no unbilled work", code="invoice.nothing_to_bill",
                                   field="period_start")
        try:
            _store_drafts(uow, actor, [built])
        except Conflict:
            # Someone drafted this client meanwhile. If it was this very period, theirs is the draft (a read now
            # sees their commit): answer with it, as drafting the same period twice always does.
            uow.invoices.delete(built[0])
            existing = uow.invoices.open_drafts_for([client.id], period_start, period_end).get(client.id)
            if existing is None:
                raise
            return _drafted(uow, existing, False)
        view = _drafted(uow, built[0], True)
        uow.commit()
    return view


def _unstored(inv: InvoiceRow) -> None:
    """A preview's rows have no ids (they are never stored): 0 reads as "not stored" in its view."""
    inv.id = inv.id or 0
    for ln in inv.lines:
        ln.id = ln.id or 0


def preview_draft(uow: UnitOfWork, actor: Actor, client_id: int, period_start: date, period_end: date,
                  ) -> tuple[InvoiceView, bool]:
    """What draft_invoice would do, computed and not stored: the draft it would make (id 0, no number), or the
    open draft it would return (True). Refuses as draft_invoice would."""
    require(actor, Perm.DRAFT)
    check_window(period_start, period_end)
    with uow:
        client = load_client(uow, actor, client_id)
        existing = uow.invoices.open_drafts_for([client.id], period_start, period_end).get(client.id)
        if existing is not None:
            return _view(uow, existing), True
        ctx = load_context(uow, [client], period_end, period_start)
        built = new_draft(actor, client, period_start, period_end, ctx, uow.workspace.get(), uow.clock.now())
        if built is None:
            raise ValidationFailed(f"nothing to bill for {client.name} between {period_start} and {period_end}: "
                                   "no period due, no unbilled work", code="invoice.nothing_to_bill",
                                   field="period_start")
        inv = built[0]  # transient: never added to the session
        _unstored(inv)
        return InvoiceView.of(inv, client.name, uow.clock.today()), False


def _manual_line(inv: InvoiceRow, client: ClientRow, ws: WorkspaceRow, actor: Actor, description: str,
                 quantity: object, unit_price: object, section: str) -> None:
    """Check a hand-written line and add it to the draft `inv` (in memory), with its totals recomputed."""
    if inv.status != Status.DRAFT.value:
        raise BadTransition(f"only drafts can be edited; this invoice is {inv.status}"
                            + (" (corrections to issued invoices are credit notes)"
                               if inv.status in IMMUTABLE else " (reject it back to draft first)"),
                            field="status")
    qty = parse_decimal(quantity, "quantity", max_places=4)
    if qty == 0:
        raise ValidationFailed("must not be zero", field="quantity")
    price = Money.parse(unit_price, inv.currency, "unit_price", allow_negative=True)
    _add_lines(inv, [DraftLine(section, description.strip(), qty, "item", price.amount,
                               round_money(qty * price.amount, inv.currency), manual=True,
                               source={"manual": True, "by": actor.email})], _profile(client), actor)
    _recompute(inv, ws)


def _check_manual(description: str, section: str) -> None:
    if not description.strip():
        raise ValidationFailed("must not be blank", field="description")
    if section not in SECTIONS:  # the section picks the tax rate, so it must be one the tax profile knows
        raise ValidationFailed(f"unknown section {section!r}; one of {', '.join(SECTIONS)}", field="section")


def add_manual_line(uow: UnitOfWork, actor: Actor, invoice_id: int, description: str, quantity: object,
                    unit_price: object, section: str = "manual") -> InvoiceView:
    """Add a hand-written line to a draft; it will need an approver who did not write it."""
    require(actor, Perm.DRAFT)
    _check_manual(description, section)
    with uow:
        inv = _load(uow, actor, invoice_id)
        client = uow.clients.get(inv.client_id)
        assert client is not None
        before = _summary(inv)
        _manual_line(inv, client, uow.workspace.get(), actor, description, quantity, unit_price, section)
        if inv.requested_by_user_id is None and actor.is_person_like:
            inv.requested_by_user_id = actor.user_id
        uow.flush()
        uow.audit.record(actor, "invoice.line_added", "invoice", inv.id, before=before,
                         after={**_summary(inv), "line": description.strip()})
        view = _view(uow, inv)
        uow.commit()
    return view


def preview_manual_line(uow: UnitOfWork, actor: Actor, invoice_id: int, description: str, quantity: object,
                        unit_price: object, section: str = "manual") -> tuple[InvoiceView, InvoiceView]:
    """What add_manual_line would do (the draft before and after), computed and not stored; refuses as it would."""
    require(actor, Perm.DRAFT)
    _check_manual(description, section)
    with uow:
        inv = _load(uow, actor, invoice_id, for_update=False)
        client = uow.clients.get(inv.client_id)
        assert client is not None
        ws, today = uow.workspace.get(), uow.clock.today()
        before = InvoiceView.of(inv, client.name, today)
        inv.lines  # noqa: B018 -- loaded now: the row is detached next, so the new line can never be flushed
        uow.session.expunge(inv)
        _manual_line(inv, client, ws, actor, description, quantity, unit_price, section)
        _unstored(inv)
        return before, InvoiceView.of(inv, client.name, today)


def issue_invoice(uow: UnitOfWork, actor: Actor, invoice_id: int, send: bool | None = None) -> InvoiceView:
    """Run the checks on a draft: clean -> issued and numbered (and e-mailed when the workspace sends on issue, or
    `send` says so); flagged -> pending_approval; blocked -> refused."""
    require(actor, Perm.ISSUE)
    with uow:
        inv = _load(uow, actor, invoice_id)
        if inv.status == Status.PENDING_APPROVAL.value:
            raise BadTransition("this invoice is waiting for approval: approve or reject it", field="status",
                                details={"from": inv.status, "to": "issued"})
        check_transition(inv.status, Status.ISSUED)
        _issuing.issue(uow, actor, [inv], via="issue", send=send)
        uow.flush()
        view = _view(uow, inv)
        uow.commit()
    return view


def approve_invoice(uow: UnitOfWork, actor: Actor, invoice_id: int, note: str = "") -> InvoiceView:
    """An approver accepts a flagged invoice, which is then issued. Nobody approves their own request."""
    require(actor, Perm.APPROVE)
    with uow:
        inv = _load(uow, actor, invoice_id)
        if inv.status != Status.PENDING_APPROVAL.value:
            raise BadTransition(f"only invoices pending approval can be approved; this one is {inv.status}",
                                field="status", details={"from": inv.status, "to": "issued"})
        authors = {inv.requested_by_user_id} | {ln.added_by_user_id for ln in inv.lines if ln.manual}
        if actor.user_id is not None and actor.user_id in authors:
            raise Forbidden("you requested or edited this invoice, so someone else must approve it "
                            "(segregation of duties)", code="approval.own_request")
        _issuing.issue(uow, actor, [inv], via="approval", approval_note=note)
        uow.flush()
        view = _view(uow, inv)
        uow.commit()
    return view


def reject_invoice(uow: UnitOfWork, actor: Actor, invoice_id: int, reason: str) -> InvoiceView:
    """An approver sends a flagged invoice back to draft, with the reason."""
    require(actor, Perm.APPROVE)
    if not reason or not reason.strip():
        raise ValidationFailed("say why it is rejected", field="reason")
    with uow:
        inv = _load(uow, actor, invoice_id)
        if inv.status != Status.PENDING_APPROVAL.value:
            raise BadTransition(f"only invoices pending approval can be rejected; this one is {inv.status}",
                                field="status", details={"from": inv.status, "to": "draft"})
        before = _summary(inv)
        inv.status = Status.DRAFT.value
        inv.reason = reason.strip()
        uow.audit.record(actor, "invoice.rejected", "invoice", inv.id, before=before,
                         after={**_summary(inv), "reason": inv.reason})
        emit(uow, decided_event(uow, actor, inv.id, "rejected", None, inv.status, inv.reason))
        view = _view(uow, inv)
        uow.commit()
    return view


def discard_draft(uow: UnitOfWork, actor: Actor, invoice_id: int) -> None:
    """Throw a draft away and free its work for another invoice. Drafts have no number, so no gap."""
    require(actor, Perm.DRAFT)
    with uow:
        inv = _load(uow, actor, invoice_id)
        if inv.status not in (Status.DRAFT.value, Status.PENDING_APPROVAL.value):
            raise BadTransition(f"only drafts can be discarded; this invoice is {inv.status} (void it instead)",
                                field="status")
        before = _summary(inv)
        uow.claims.release(inv.id)
        uow.invoices.delete(inv)
        uow.audit.record(actor, "invoice.discarded", "invoice", invoice_id, before=before)
        if before["status"] == Status.PENDING_APPROVAL.value:
            emit(uow, decided_event(uow, actor, invoice_id, "discarded", None, "discarded"))
        uow.commit()


def void_invoice(uow: UnitOfWork, actor: Actor, invoice_id: int, reason: str) -> InvoiceView:
    """Cancel an issued invoice with nothing paid. It keeps its number; its work becomes billable again."""
    require(actor, Perm.VOID)
    if not reason or not reason.strip():
        raise ValidationFailed("say why it is voided", field="reason")
    with uow:
        inv = _load(uow, actor, invoice_id)
        if inv.kind != "invoice":
            raise BadTransition("credit notes cannot be voided", field="invoice_id")
        if inv.status in (Status.PARTIALLY_PAID.value, Status.PAID.value) or inv.paid_minor or inv.credited_minor:
            raise BadTransition("money was paid or credited against this invoice: issue a credit note instead",
                                field="status", details={"from": inv.status, "to": "void"})
        check_transition(inv.status, Status.VOID)
        before = _summary(inv)
        inv.status = Status.VOID.value
        inv.reason = reason.strip()
        released = uow.claims.release(inv.id)
        uow.audit.record(actor, "invoice.voided", "invoice", inv.id, before=before,
                         after={**_summary(inv), "reason": inv.reason, "released_items": released})
        emit(uow, InvoiceVoided(**_ref(inv, client_name_of(uow, inv)), reason=inv.reason, released_items=released))
        view = _view(uow, inv)
        uow.commit()
    return view


def mark_uncollectible(uow: UnitOfWork, actor: Actor, invoice_id: int, reason: str) -> InvoiceView:
    require(actor, Perm.VOID)
    if not reason or not reason.strip():
        raise ValidationFailed("say why it is written off", field="reason")
    with uow:
        inv = _load(uow, actor, invoice_id)
        if inv.kind != "invoice":
            raise BadTransition("credit notes are not collected, so they cannot be written off", field="invoice_id")
        check_transition(inv.status, Status.UNCOLLECTIBLE)
        before = _summary(inv)
        inv.status = Status.UNCOLLECTIBLE.value
        inv.reason = reason.strip()
        uow.audit.record(actor, "invoice.uncollectible", "invoice", inv.id, before=before,
                         after={**_summary(inv), "reason": inv.reason})
        emit(uow, InvoiceUncollectible(**_ref(inv, client_name_of(uow, inv)), reason=inv.reason,
                                       balance=Money.from_minor(_balance(inv), inv.currency).text))
        view = _view(uow, inv)
        uow.commit()
    return view


def _balance(inv: InvoiceRow) -> int:
    return inv.total_minor - inv.paid_minor - inv.credited_minor


def _settle(inv: InvoiceRow) -> None:
    target = Status.PAID if _balance(inv) == 0 else Status.PARTIALLY_PAID
    if inv.status == Status.UNCOLLECTIBLE.value and target == Status.PARTIALLY_PAID:
        return  # a part-payment on a written-off invoice keeps it written off
    check_transition(inv.status, target)
    inv.status = target.value


def record_payment(uow: UnitOfWork, actor: Actor, invoice_id: int, amount: object, received_on: date,
                   reference: str = "") -> InvoiceView:
    """Apply money received. Overpayment is refused: it must be a mistake or belongs to another invoice."""
    require(actor, Perm.PAYMENTS)
    with uow:
        inv = _load(uow, actor, invoice_id)
        if inv.kind != "invoice" or inv.status not in {s.value for s in OPEN}:
            raise BadTransition(f"payments apply to issued invoices with a balance; this one is {inv.status}",
                                field="status")
        money = Money.parse(amount, inv.currency, "amount")
        if money.minor <= 0:
            raise ValidationFailed("must be more than zero", code="validation.not_positive", field="amount")
        balance = _balance(inv)
        if money.minor > balance:
            raise ValidationFailed(f"{money} is more than the balance of {Money.from_minor(balance, inv.currency)}",
                                   code="payment.overpayment", field="amount")
        before = _summary(inv)
        payment = PaymentRow(invoice_id=inv.id, amount_minor=money.minor, currency=inv.currency,
                             received_on=received_on, reference=reference, recorded_by_user_id=actor.user_id,
                             created_at=uow.clock.now())
        uow.invoices.add(payment)
        inv.paid_minor += money.minor
        _settle(inv)
        uow.audit.record(actor, "invoice.payment_recorded", "invoice", inv.id, before=before,
                         after={**_summary(inv), "amount": money.text, "received_on": received_on.isoformat(),
                                "reference": reference})
        ref = _ref(inv, client_name_of(uow, inv))
        uow.flush()  # the payment's id: the accounting sync pushes it by that id
        emit(uow, PaymentRecorded(**ref, amount=money.text, received_on=received_on, reference=reference,
                                  balance=Money.from_minor(_balance(inv), inv.currency).text, payment_id=payment.id))
        if inv.status == Status.PAID.value:
            emit(uow, InvoicePaid(**ref, by="payment"))
        view = _view(uow, inv, detail=True)
        uow.commit()
    return view


def create_credit_note(uow: UnitOfWork, actor: Actor, invoice_id: int, reason: str,
                       amount: object | None = None, reason_text: dict[str, Any] | None = None) -> InvoiceView:
    """Correct an issued invoice by crediting part or all of its balance (gross), in its own numbered series.
    `reason_text`: the reason's wording as data when billable wrote it (an adjustment's), kept in the lines' source."""
    require(actor, Perm.VOID)
    if not reason or not reason.strip():
        raise ValidationFailed("say why it is credited", field="reason")
    with uow:
        inv = _load(uow, actor, invoice_id)
        if inv.kind != "invoice" or inv.status not in {s.value for s in OPEN}:
            raise BadTransition(f"credit notes correct issued invoices with a balance; this one is {inv.status}",
                                field="status")
        balance = _balance(inv)
        gross = balance if amount is None else Money.parse(amount, inv.currency, "amount").minor
        if gross <= 0:
            raise ValidationFailed("must be more than zero", code="validation.not_positive", field="amount")
        if gross > balance:
            raise ValidationFailed(f"a credit note cannot exceed the balance of "
                                   f"{Money.from_minor(balance, inv.currency)}", code="credit.exceeds_balance",
                                   field="amount")
        client = uow.clients.get(inv.client_id)
        assert client is not None
        ws = uow.workspace.get()
        note = InvoiceRow(client_id=inv.client_id, kind="credit_note", status=Status.ISSUED.value,
                          currency=inv.currency, period_start=inv.period_start, period_end=inv.period_end,
                          tax_note=inv.tax_note, po_number=inv.po_number, corrects_invoice_id=inv.id,
                          reason=reason.strip(), requested_by_user_id=actor.user_id, created_at=uow.clock.now())
        _credit_lines(note, inv, gross, reason_text)
        _recompute(note, ws, credit_note=True)
        if note.total_minor != gross:  # pragma: no cover - _credit_lines splits the gross exactly
            raise AssertionError(f"credit note totals {note.total_minor}, not the {gross} credited")
        note.number = take_numbers(uow, ws.credit_note_number_format, 1)[0]
        note.issue_date, note.issued_at = uow.clock.today(), uow.clock.now()
        _issuing.freeze(note, client, ws, corrects=inv)
        uow.invoices.add(note)
        before = _summary(inv)
        inv.credited_minor += note.total_minor
        if _balance(inv) == 0:
            _settle(inv)
        uow.audit.record(actor, "credit_note.issued", "invoice", note.id, after={**_summary(note),
                         "corrects": inv.number, "reason": note.reason})
        uow.audit.record(actor, "invoice.credited", "invoice", inv.id, before=before,
                         after={**_summary(inv), "credit_note": note.number})
        ref = _ref(inv, client.name)
        emit(uow, InvoiceCredited(**ref, credit_note_id=note.id, credit_note_number=note.number, reason=note.reason,
                                  amount=Money.from_minor(note.total_minor, inv.currency).text,
                                  balance=Money.from_minor(_balance(inv), inv.currency).text))
        if inv.status == Status.PAID.value:
            emit(uow, InvoicePaid(**ref, by="credit_note"))
        view = _view(uow, note)
        uow.commit()
    return view


def _credit_lines(note: InvoiceRow, inv: InvoiceRow, gross: int, reason_text: dict[str, Any] | None = None) -> None:
    """Split a gross credit across the invoice's tax rates in proportion, so tax is credited correctly.

    Each rate gets its share of the gross; its net is the same proportion of the rate's taxable amount and its
    tax the rest, so the lines add up to exactly the gross, and a full credit mirrors the invoice rate by rate.
    """
    cur = inv.currency
    exp = minor_exponent(cur)
    groups = [g for g in inv.tax_breakdown if Decimal(g["taxable"]) + Decimal(g["tax"]) != 0]
    total_gross = sum(Decimal(g["taxable"]) + Decimal(g["tax"]) for g in groups)
    credit = Decimal(gross).scaleb(-exp)
    ratio = credit / total_gross
    left = credit
    for i, g in enumerate(groups):
        rate, taxable = Decimal(g["rate"]), Decimal(g["taxable"])
        share = left if i == len(groups) - 1 else round_money((taxable + Decimal(g["tax"])) * ratio, cur)
        left -= share
        net = share if rate == 0 else round_money(taxable * ratio, cur)
        note.lines.append(InvoiceLineRow(
            position=i + 1, section="credit", description=f"Credit for {inv.number} ({g['rate']}% rate)",
            quantity="1", unit="item", unit_price_minor=_to_minor(net, cur), amount_minor=_to_minor(net, cur),
            tax_rate=g["rate"], tax_minor=_to_minor(share - net, cur), arrangement_id=None,
            source={"invoice_id": inv.id, "invoice_number": inv.number,
                    "text": line_text("credit", invoice=str(inv.number), rate=str(g["rate"])),
                    **({"reason_text": reason_text} if reason_text else {})}, manual=False))


def get_invoice(uow: UnitOfWork, actor: Actor, invoice_id: int) -> InvoiceView:
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        return _view(uow, _load(uow, actor, invoice_id, for_update=False), detail=True)


def find_invoice(uow: UnitOfWork, actor: Actor, number: str) -> InvoiceView:
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        inv = uow.invoices.by_number(number)
        if inv is None:
            raise NotFound(f"no invoice numbered {number}", code="invoice.not_found", field="number")
        return _view(uow, _load(uow, actor, inv.id, for_update=False), detail=True)


def list_invoices(uow: UnitOfWork, actor: Actor, *, client_id: int | None = None, status: str | None = None,
                  overdue: bool | None = None, period_start: date | None = None, period_end: date | None = None,
                  kind: str | None = None, number: str | None = None, limit: int = 100,
                  offset: int = 0) -> list[InvoiceView]:
    """Invoices the actor may see, newest first, without lines (fetch one for its lines)."""
    require(actor, Perm.VIEW_BOOKS)
    if status is not None and status not in {s.value for s in Status}:
        raise ValidationFailed(f"unknown status {status!r}; one of {', '.join(s.value for s in Status)}",
                               field="status")
    if not 1 <= limit <= 500:
        raise ValidationFailed("must be between 1 and 500", field="limit")
    with uow:
        today = uow.clock.today()
        rows = uow.invoices.list(client_id=client_id, status=[status] if status else None,
                                 only_client_ids=client_scope(actor), overdue_on=today if overdue else None,
                                 period_start=period_start, period_end=period_end, kind=kind,
                                 number_like=number, limit=limit, offset=offset,
                                 not_overdue_on=today if overdue is False else None)
        names = {i: n for i, n, _ in uow.clients.refs(frozenset({r.client_id for r in rows}), limit=len(rows) or 1)}
        return [InvoiceView.of(r, names.get(r.client_id, "?"), today, with_lines=False) for r in rows]

"""The dashboard's reads: the book at a glance (counts and amounts by state, receivables aging, billed vs collected
per month, what needs someone), a searchable page of invoices, and where an invoice line's work came from.

Each is a few set-based queries, grouped in the database (never row by row in Python), scoped like every other read:
account managers see their own clients only. Amounts are per currency: different currencies are never added.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import lazyload

from domain.errors import NotFound, ValidationFailed
from domain.model.lifecycle import Status
from domain.model.money import minor_to_text
from domain.model.roles import Actor, Perm
from domain.services._auth import client_scope, require
from domain.services.views import InvoiceView, TimeEntryView, format_hours
from domain.store.tables import (
    ArrangementRow,
    ClientRow,
    EventRow,
    ExpenseRow,
    InvoiceDeliveryRow,
    InvoiceRow,
    MilestoneRow,
    ParkedPaymentRow,
    PaymentRow,
    SlaBreachRow,
    TimeEntryRow,
)
from domain.store.uow import UnitOfWork

# The lifecycle states the overview counts, in pipeline order; overdue and delivery failure are derived beside them.
PIPELINE = ("draft", "pending_approval", "issued", "sent", "viewed", "partially_paid", "paid")
OWED = ("issued", "sent", "viewed", "partially_paid")  # money is owed and being chased (write-offs are not)
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
FAILED_DELIVERY = ("failed", "bounced")
MAX_PER_PAGE = 200


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Amount(_View):
    """An amount in one currency, as a decimal string."""

    currency: str
    amount: str


class StateFigure(_View):
    state: str
    count: int
    amounts: list[Amount]  # totals (overdue, delivery failed: the balance still owed), one per currency


class AgingBucket(_View):
    bucket: str
    count: int
    amounts: list[Amount]  # balances owed


class MonthFigure(_View):
    month: str  # YYYY-MM
    currency: str
    billed: str  # invoices issued that month (void ones excluded), gross
    collected: str  # payments received that month
    billed_minor: int
    collected_minor: int


class NeedsYou(_View):
    approvals: int | None  # None: the actor may not approve
    failed_deliveries: int
    dead_events: int | None  # None: the actor may not see events
    unmatched_payments: int | None = None  # parked payments waiting for a person; None: not the actor's to resolve


class Overview(_View):
    today: date
    states: list[StateFigure]
    aging: list[AgingBucket]
    months: list[str]
    monthly: list[MonthFigure]
    needs_you: NeedsYou


def _amounts(by_cur: dict[str, int]) -> list[Amount]:
    return [Amount(currency=c, amount=minor_to_text(v, c)) for c, v in sorted(by_cur.items())]


def _scoped(q: Any, scope: frozenset[int] | None) -> Any:
    return q if scope is None else q.where(InvoiceRow.client_id.in_(scope))


def _balance() -> Any:
    return InvoiceRow.total_minor - InvoiceRow.paid_minor - InvoiceRow.credited_minor


def _month_start(d: date, back: int = 0) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - back, 12)
    return date(y, m + 1, 1)


def last_months(today: date, n: int = 12) -> list[str]:
    """The last n months through this one, oldest first, as YYYY-MM."""
    return [_month_start(today, back).strftime("%Y-%m") for back in range(n - 1, -1, -1)]


def overview(uow: UnitOfWork, actor: Actor) -> Overview:
    """Counts and amounts by state, aging of what is owed, billed vs collected for 12 months, and what waits."""
    require(actor, Perm.VIEW_BOOKS)
    scope = client_scope(actor)
    with uow:
        s = uow.session
        today = uow.clock.today()
        counts: dict[str, int] = dict.fromkeys((*PIPELINE, "overdue", "delivery_failed"), 0)
        sums: dict[str, dict[str, int]] = {k: {} for k in counts}
        aging_n: dict[str, int] = dict.fromkeys(BUCKETS, 0)
        aging_sum: dict[str, dict[str, int]] = {b: {} for b in BUCKETS}
        # One pass over the invoices gives the states, overdue and aging: each row gets its aging bucket (none when
        # nothing is owed), then rows are grouped by state, currency and bucket. The bucket is computed in a
        # subquery so PostgreSQL groups by a column, not by a repeated expression with its own parameters.
        owed = and_(InvoiceRow.status.in_(OWED), _balance() > 0)
        d30, d60, d90 = (today - timedelta(days=n) for n in (30, 60, 90))
        bucket = case((~owed, None),
                      (or_(InvoiceRow.due_date.is_(None), InvoiceRow.due_date >= today), "current"),
                      (InvoiceRow.due_date >= d30, "1-30"), (InvoiceRow.due_date >= d60, "31-60"),
                      (InvoiceRow.due_date >= d90, "61-90"), else_="90+")
        inner = _scoped(select(InvoiceRow.status.label("status"), InvoiceRow.currency.label("currency"),
                               bucket.label("bucket"), InvoiceRow.total_minor.label("total"),
                               _balance().label("balance")).where(InvoiceRow.kind == "invoice"), scope).subquery()
        rows = s.execute(select(inner.c.status, inner.c.currency, inner.c.bucket, func.count(), func.sum(inner.c.total),
                                func.sum(inner.c.balance)).group_by(inner.c.status, inner.c.currency, inner.c.bucket))
        for status, cur, b, n, total, bal in rows:
            if status in PIPELINE:
                counts[status] += int(n)
                sums[status][cur] = sums[status].get(cur, 0) + int(total or 0)
            if b is not None:
                aging_n[b] += int(n)
                aging_sum[b][cur] = aging_sum[b].get(cur, 0) + int(bal or 0)
                if b != "current":
                    counts["overdue"] += int(n)
                    sums["overdue"][cur] = sums["overdue"].get(cur, 0) + int(bal or 0)

        q: Any = select(InvoiceRow.currency, func.count(), func.coalesce(func.sum(_balance()), 0)).join(
            InvoiceDeliveryRow, InvoiceDeliveryRow.invoice_id == InvoiceRow.id).where(
            InvoiceDeliveryRow.status.in_(FAILED_DELIVERY), InvoiceRow.status.in_(OWED)).group_by(InvoiceRow.currency)
        for cur, n, bal in s.execute(_scoped(q, scope)):
            counts["delivery_failed"] += int(n)
            sums["delivery_failed"][cur] = int(bal)
        first = _month_start(today, 11)
        months = last_months(today)
        figures: dict[tuple[str, str], list[int]] = {}
        # Grouped by day in SQL (a range scan of the date index, at most ~366 rows per currency), folded into
        # months here: cheaper than a per-row month expression, and the same on both databases.
        q = select(InvoiceRow.issue_date, InvoiceRow.currency, func.sum(InvoiceRow.total_minor)).where(
            InvoiceRow.kind == "invoice", InvoiceRow.number.is_not(None), InvoiceRow.status != Status.VOID.value,
            InvoiceRow.issue_date >= first, InvoiceRow.issue_date <= today).group_by(InvoiceRow.issue_date,
                                                                                     InvoiceRow.currency)
        for day, cur, total in s.execute(_scoped(q, scope)):
            figures.setdefault((day.strftime("%Y-%m"), cur), [0, 0])[0] += int(total or 0)
        q = select(PaymentRow.received_on, PaymentRow.currency, func.sum(PaymentRow.amount_minor)).where(
            PaymentRow.received_on >= first, PaymentRow.received_on <= today).group_by(PaymentRow.received_on,
                                                                                       PaymentRow.currency)
        if scope is not None:
            q = q.join(InvoiceRow, InvoiceRow.id == PaymentRow.invoice_id).where(InvoiceRow.client_id.in_(scope))
        for day, cur, total in s.execute(q):
            figures.setdefault((day.strftime("%Y-%m"), cur), [0, 0])[1] += int(total or 0)
        currencies = sorted({cur for _, cur in figures})
        monthly = [MonthFigure(month=mo, currency=cur, billed=minor_to_text(b, cur), collected=minor_to_text(c, cur),
                               billed_minor=b, collected_minor=c)
                   for cur in currencies for mo in months for b, c in [figures.get((mo, cur), [0, 0])]]

        approvals = None
        if actor.can(Perm.APPROVE):
            approvals = counts["pending_approval"]
        dead = None
        if actor.can(Perm.MANAGE_SETTINGS):
            dead = int(s.execute(select(func.count()).select_from(EventRow).where(EventRow.status == "dead")
                                 ).scalar_one())
        unmatched = None
        if actor.can(Perm.PAYMENTS):
            unmatched = int(s.execute(select(func.count()).select_from(ParkedPaymentRow).where(
                ParkedPaymentRow.status == "parked")).scalar_one())
        return Overview(
            today=today,
            states=[StateFigure(state=k, count=counts[k], amounts=_amounts(sums[k])) for k in counts],
            aging=[AgingBucket(bucket=b, count=aging_n[b], amounts=_amounts(aging_sum[b])) for b in BUCKETS],
            months=months, monthly=monthly,
            needs_you=NeedsYou(approvals=approvals, failed_deliveries=counts["delivery_failed"], dead_events=dead,
                               unmatched_payments=unmatched))


# ---- a page of invoices ---------------------------------------------------------------------------------------------


class InvoicePage(_View):
    invoices: list[InvoiceView]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


FILTER_STATES = (*PIPELINE, "void", "uncollectible", "overdue", "delivery_failed")


def invoice_page(uow: UnitOfWork, actor: Actor, *, client_id: int | None = None, state: str | None = None,
                 period_from: date | None = None, period_to: date | None = None, overdue: bool = False,
                 search: str = "", page: int = 1, per_page: int = 50) -> InvoicePage:
    """Invoices (not credit notes) the actor may see, newest first, filtered, searched by number or client name,
    one page at a time with the total count."""
    require(actor, Perm.VIEW_BOOKS)
    if state is not None and state not in FILTER_STATES:
        raise ValidationFailed(f"unknown state {state!r}; one of {', '.join(FILTER_STATES)}", field="state")
    if page < 1:
        raise ValidationFailed("pages start at 1", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed(f"must be between 1 and {MAX_PER_PAGE}", field="per_page")
    if period_from is not None and period_to is not None and period_to < period_from:
        raise ValidationFailed("the period ends before it starts", field="period_to")
    search = search.strip()[:200]
    with uow:
        today = uow.clock.today()
        conds: list[Any] = [InvoiceRow.kind == "invoice"]
        scope = client_scope(actor)
        if scope is not None:
            conds.append(InvoiceRow.client_id.in_(scope))
        if client_id is not None:
            conds.append(InvoiceRow.client_id == client_id)
        owed = and_(InvoiceRow.status.in_(OWED), _balance() > 0)
        if state == "overdue":
            overdue = True
        elif state == "delivery_failed":
            failed = select(InvoiceDeliveryRow.invoice_id).where(InvoiceDeliveryRow.status.in_(FAILED_DELIVERY))
            conds += [InvoiceRow.id.in_(failed), InvoiceRow.status.in_(OWED)]
        elif state is not None:
            conds.append(InvoiceRow.status == state)
        if overdue:
            conds += [owed, InvoiceRow.due_date < today]
        if period_from is not None:
            conds.append(InvoiceRow.period_end >= period_from)
        if period_to is not None:
            conds.append(InvoiceRow.period_start <= period_to)
        if search:
            like = f"%{search.replace('%', '').replace('_', '')}%"
            text = search.lstrip("#")
            # The client side as a subquery on the small clients table, so counting needs no join.
            by: list[Any] = [InvoiceRow.number.ilike(like),
                             InvoiceRow.client_id.in_(select(ClientRow.id).where(ClientRow.name.ilike(like)))]
            if text.isdigit():
                by.append(InvoiceRow.id == int(text))
            conds.append(or_(*by))
        rows = uow.session.execute(
            select(InvoiceRow, ClientRow.name).join(ClientRow, ClientRow.id == InvoiceRow.client_id)
            .options(lazyload(InvoiceRow.lines)).where(*conds).order_by(InvoiceRow.id.desc())
            .limit(per_page + 1).offset((page - 1) * per_page)).all()
        if page == 1 and len(rows) <= per_page:
            total = len(rows)  # it all fits on the first page: no need to count (searches usually do)
        else:
            total = int(uow.session.execute(select(func.count()).select_from(InvoiceRow).where(*conds)).scalar_one())
        rows = rows[:per_page]
        return InvoicePage(invoices=[InvoiceView.of(inv, name, today, with_lines=False) for inv, name in rows],
                           total=total, page=page, per_page=per_page)


def delivery_failed_ids(uow: UnitOfWork, actor: Actor, invoice_ids: list[int]) -> set[int]:
    """Which of these invoices' e-mail failed or bounced (for marking them in a list)."""
    require(actor, Perm.VIEW_BOOKS)
    if not invoice_ids:
        return set()
    with uow:
        rows = uow.session.execute(select(InvoiceDeliveryRow.invoice_id).where(
            InvoiceDeliveryRow.invoice_id.in_(invoice_ids), InvoiceDeliveryRow.status.in_(FAILED_DELIVERY))).scalars()
        return {int(r) for r in rows}


# ---- where a line's work came from ----------------------------------------------------------------------------------


class LineOrigin(_View):
    """What one invoice line bills: its arrangement (and the deal it came from), and the time entries, milestone,
    expense or SLA breach behind it."""

    invoice_id: int
    invoice_number: str | None
    line_id: int
    description: str
    amount: str
    currency: str
    source: dict[str, Any]
    arrangement: dict[str, Any] | None
    deal: str | None
    time_entries: list[TimeEntryView]
    hours: str | None
    milestone: dict[str, Any] | None
    expense: dict[str, Any] | None
    breach: dict[str, Any] | None


def line_origin(uow: UnitOfWork, actor: Actor, invoice_id: int, line_id: int) -> LineOrigin:
    """The work behind one line of an invoice the actor may see."""
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        inv = uow.invoices.get(invoice_id)
        scope = client_scope(actor)
        if inv is None or (scope is not None and inv.client_id not in scope):
            raise NotFound(f"no invoice with id {invoice_id}", code="invoice.not_found", field="invoice_id")
        line = next((ln for ln in inv.lines if ln.id == line_id), None)
        if line is None:
            raise NotFound(f"invoice {invoice_id} has no line {line_id}", code="line.not_found", field="line_id")
        src = dict(line.source or {})
        arrangement = deal = None
        if line.arrangement_id is not None:
            arr = uow.session.get(ArrangementRow, line.arrangement_id)
            if arr is not None:
                arrangement = {"id": arr.id, "kind": arr.kind, "name": arr.name,
                               "starts_on": str(arr.starts_on or ""), "ends_on": str(arr.ends_on or "")}
                client = uow.session.get(ClientRow, arr.client_id)
                deal = src.get("deal") or (client.external_ref if client is not None and client.external_ref
                                           and not client.external_ref.startswith("demo:") else None)
        ids = [int(i) for i in src.get("time_entry_ids") or [] if str(i).isdigit()][:1000]
        entries = list(uow.session.execute(select(TimeEntryRow).where(TimeEntryRow.id.in_(ids))
                                           .order_by(TimeEntryRow.day, TimeEntryRow.id)).scalars()) if ids else []
        milestone = expense = breach = None
        if src.get("milestone_id") is not None:
            ms = uow.session.get(MilestoneRow, int(src["milestone_id"]))
            if ms is not None:
                milestone = {"id": ms.id, "name": ms.name, "completed_on": str(ms.completed_on or ""),
                             "amount": minor_to_text(ms.amount_minor, ms.currency), "ref": ms.external_ref or ""}
        if src.get("expense_id") is not None:
            ex = uow.session.get(ExpenseRow, int(src["expense_id"]))
            if ex is not None:
                expense = {"id": ex.id, "day": str(ex.day), "description": ex.description,
                           "cost": minor_to_text(ex.cost_minor, ex.currency)}
        if src.get("breach_id") is not None:
            br = uow.session.get(SlaBreachRow, int(src["breach_id"]))
            if br is not None:
                breach = {"id": br.id, "occurred_on": str(br.occurred_on), "description": br.description}
        return LineOrigin(
            invoice_id=inv.id, invoice_number=inv.number, line_id=line.id, description=line.description,
            amount=minor_to_text(line.amount_minor, inv.currency), currency=inv.currency, source=src,
            arrangement=arrangement, deal=deal, time_entries=[TimeEntryView.of(t) for t in entries],
            hours=format_hours(sum(t.hours_centi for t in entries)) if entries else None,
            milestone=milestone, expense=expense, breach=breach)

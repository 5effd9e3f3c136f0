"""Everything drafting and checking need for a set of clients, loaded in a few set-based queries.

Drafting one invoice and a month-end run over 10,000 clients use the same code: the run just loads the context
for a batch of clients at once instead of one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from domain.model.money import minor_exponent
from domain.model.versions import Proration, Version
from domain.store.tables import (
    ArrangementAdjustmentRow,
    ArrangementRow,
    ClientRow,
    ExpenseRow,
    MilestoneRow,
    SlaBreachRow,
    TimeEntryRow,
)
from domain.store.uow import UnitOfWork


@dataclass(slots=True)
class BillingContext:
    """Unbilled work and contract terms of some clients, as of one drafting window."""

    clients: dict[int, ClientRow]
    arrangements: dict[int, list[ArrangementRow]] = field(default_factory=lambda: defaultdict(list))
    time: dict[int, list[TimeEntryRow]] = field(default_factory=lambda: defaultdict(list))
    milestones: dict[int, list[MilestoneRow]] = field(default_factory=lambda: defaultdict(list))
    expenses: dict[int, list[ExpenseRow]] = field(default_factory=lambda: defaultdict(list))
    breaches: dict[int, list[SlaBreachRow]] = field(default_factory=lambda: defaultdict(list))
    claimed_periods: set[tuple[int, str]] = field(default_factory=set)
    billed_on: dict[int, int] = field(default_factory=dict)
    included_used: dict[str, Decimal] = field(default_factory=dict)  # "<retainer id>:<period key>" -> hours
    sla_credited: dict[str, Decimal] = field(default_factory=dict)   # "<retainer id>:<period key>" -> amount
    versions: dict[int, list[Version]] = field(default_factory=dict)  # arrangement id -> its versions in force
    adjustments: dict[int, list[ArrangementAdjustmentRow]] = field(default_factory=lambda: defaultdict(list))
    proration: Proration = Proration.BY_DAY

    def period_claimed(self, arrangement_id: int, key: str) -> bool:
        return (arrangement_id, key) in self.claimed_periods

    def claim_period(self, arrangement_id: int, key: str) -> None:
        self.claimed_periods.add((arrangement_id, key))


def load_context(uow: UnitOfWork, clients: Sequence[ClientRow], end: date, start: date | None = None,
                 ) -> BillingContext:
    """Load arrangements and unbilled work up to `end` for these clients (and, given the window's `start`, the
    included hours other invoices already used of the retainer periods it touches)."""
    ids = [c.id for c in clients]
    ctx = BillingContext(clients={c.id: c for c in clients})
    for a in uow.arrangements.for_clients(ids):
        ctx.arrangements[a.client_id].append(a)
    arrangement_ids = [a.id for arrs in ctx.arrangements.values() for a in arrs]
    ctx.versions = versions_by_arrangement(uow, arrangement_ids)
    ctx.proration = Proration(uow.workspace.get().amendment_proration or Proration.BY_DAY.value)
    for adj in uow.arrangements.unbilled_adjustments_for(ids):
        ctx.adjustments[adj.client_id].append(adj)
    for t in uow.work.unbilled_time_for(ids, end):
        ctx.time[t.client_id].append(t)
    for m in uow.work.unbilled_milestones_for(ids, end):
        ctx.milestones[m.client_id].append(m)
    for x in uow.work.unbilled_expenses_for(ids, end):
        ctx.expenses[x.client_id].append(x)
    for b in uow.work.unbilled_breaches_for(ids, end):
        ctx.breaches[b.client_id].append(b)
    period_arrangements = [a.id for arrs in ctx.arrangements.values() for a in arrs
                           if a.kind in ("retainer", "subscription")]
    ctx.claimed_periods = set(uow.claims.claimed_periods(period_arrangements))
    capped = [a.id for arrs in ctx.arrangements.values() for a in arrs
              if a.kind == "time_and_materials" and any(
                  (t or {}).get("cap") is not None for t in _all_terms(ctx, a))]
    ctx.billed_on = uow.invoices.billed_on_arrangements(capped)
    with_hours = [a.client_id for arrs in ctx.arrangements.values() for a in arrs
                  if a.kind == "retainer" and any(Decimal(str((t or {}).get("included_hours") or 0)) > 0
                                                  for t in _all_terms(ctx, a))]
    # a yearly period is the longest: nothing older can share a retainer period with this window
    since = (start or end) - timedelta(days=366)
    if with_hours:
        for source in uow.invoices.included_hours_sources(sorted(set(with_hours)), since, end):
            for key, hours in (source.get("included_used") or {}).items():
                ctx.included_used[key] = ctx.included_used.get(key, Decimal(0)) + Decimal(hours)
    with_breaches = [cid for cid, bs in ctx.breaches.items() if bs]
    if with_breaches:
        for source, amount_minor, currency in uow.invoices.sla_credit_lines(sorted(with_breaches), since, end):
            key = source.get("retainer_period")
            if key:
                ctx.sla_credited[key] = ctx.sla_credited.get(key, Decimal(0)) \
                    - Decimal(amount_minor).scaleb(-minor_exponent(currency))
    return ctx


def _all_terms(ctx: BillingContext, a: ArrangementRow) -> list[dict[str, object] | None]:
    return [dict(v.terms) if v.terms is not None else None for v in ctx.versions.get(a.id, [])] or [a.terms]


def versions_by_arrangement(uow: UnitOfWork, arrangement_ids: Sequence[int]) -> dict[int, list[Version]]:
    """The versions in force (approved) of each arrangement, in order; none stored means its row's terms only."""
    out: dict[int, list[Version]] = {}
    for v in uow.arrangements.versions_for(arrangement_ids):
        out.setdefault(v.arrangement_id, []).append(Version(v.id, v.number, v.effective_on, v.terms))
    return out


@dataclass(frozen=True, slots=True)
class History:
    """What the checks compare with: the previous period's total, recent totals, whether anything was issued."""

    previous_total: dict[int, int]
    recent_totals: dict[int, list[tuple[int, str]]]
    has_issued: set[int]


def load_history(uow: UnitOfWork, client_ids: Iterable[int], before: date, since: datetime) -> History:
    ids = list(client_ids)
    return History(previous_total=uow.invoices.previous_totals(ids, before),
                   recent_totals=uow.invoices.recent_totals(ids, since),
                   has_issued=uow.invoices.clients_with_issued(ids))

"""Building an invoice's lines from a client's arrangements and unbilled work (used by drafting)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from domain.model.arrangements import (
    TERMS_BY_KIND,
    PassThroughTerms,
    RetainerTerms,
    SlaCreditTerms,
    SubscriptionTerms,
    TimeAndMaterialsTerms,
)
from domain.model.lines import (
    Allowance,
    DraftLine,
    WorkEntry,
    pass_through_line,
    retainer_line,
    sla_credit_amount,
    subscription_line,
    time_lines,
)
from domain.model.money import Money, minor_exponent, round_money
from domain.model.periods import Cycle, Period, coverage, period_containing, periods_between
from domain.services._context import BillingContext
from domain.store.tables import ArrangementRow, ClientRow


def terms_of(a: ArrangementRow) -> object:
    if a.kind == "milestone":
        return None  # its milestones are rows of their own
    return TERMS_BY_KIND[a.kind].model_validate(
        {**a.terms, "kind": a.kind, "starts_on": a.starts_on, "ends_on": a.ends_on, "name": a.name})


def _due_periods(a: ArrangementRow, cycle: Cycle, billing: str, start: date, end: date) -> list[Period]:
    """Periods of an arrangement that fall due in [start, end]: by their first day when billed in advance,
    by their last day in arrears; only periods the contract covers."""
    first = max(start, a.starts_on) if a.starts_on else start
    out = []
    for p in periods_between(first if billing == "advance" else start, end, cycle):
        anchor = p.start if billing == "advance" else p.end
        # a contract starting mid-period still owes its first, partial period
        if billing == "advance" and a.starts_on and p.start < a.starts_on <= p.end:
            anchor = a.starts_on
        if start <= anchor <= end and coverage(p, a.starts_on, a.ends_on) > 0:
            out.append(p)
    return out


def _allowances(retainers: list[tuple[ArrangementRow, RetainerTerms]], start: date, end: date,
                used_elsewhere: dict[str, Decimal]) -> list[Allowance]:
    """Included hours each retainer period offers the window [start, end]: the window's share of the period
    (by days the contract covers), never more than what other invoices have left of that period's hours."""
    out = []
    for a, t in retainers:
        if not t.included_hours:
            continue
        for p in periods_between(start, end, t.cycle):
            lo, hi = max(p.start, start), min(p.end, end)
            share = coverage(Period(lo, hi), a.starts_on, a.ends_on) * Decimal((hi - lo).days + 1) / p.days
            key = f"{a.id}:{p.key}"
            left = t.included_hours * coverage(p, a.starts_on, a.ends_on) - used_elsewhere.get(key, Decimal(0))
            hours = min(round_hours(t.included_hours * share), left)
            if hours > 0:
                out.append(Allowance(key, p, hours))
    return out


def round_hours(h: Decimal) -> Decimal:
    return h.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def build_lines(ctx: BillingContext, client: ClientRow, start: date, end: date) -> tuple[list[DraftLine], bool]:
    """Every line due for the client in [start, end], and whether a not-to-exceed cap cut the time.

    Reads only the pre-loaded context, so a month-end run drafts thousands of clients without a query each.
    """
    cur = client.currency
    places = minor_exponent(cur)
    arrangements = ctx.arrangements.get(client.id, [])
    parsed = [(a, terms_of(a)) for a in arrangements]
    retainers = [(a, t) for a, t in parsed if isinstance(t, RetainerTerms)]
    lines: list[DraftLine] = []
    capped = False
    retainer_fee_by_arr: dict[int, Decimal] = {}

    for a, t in parsed:
        if isinstance(t, RetainerTerms):
            for p in _due_periods(a, t.cycle, t.billing, start, end):
                if ctx.period_claimed(a.id, p.key):
                    continue
                share = coverage(p, a.starts_on, a.ends_on) if t.prorate else Decimal(1)
                lines.append(retainer_line(a.id, a.name, t.fee, p, share, cur, t.billing))
            retainer_fee_by_arr[a.id] = t.fee
        elif isinstance(t, SubscriptionTerms):
            for p in _due_periods(a, t.cycle, "advance", start, end):
                if ctx.period_claimed(a.id, p.key):
                    continue
                lines.append(subscription_line(a.id, t.product, t.seats, t.unit_price, p,
                                               coverage(p, a.starts_on, a.ends_on), cur))

    for m in ctx.milestones.get(client.id, []):
        amount = Money.from_minor(m.amount_minor, m.currency).amount
        lines.append(DraftLine("milestone", f"Milestone: {m.name} (completed {m.completed_on})", Decimal(1),
                               "item", amount, amount, m.arrangement_id,
                               {"arrangement_id": m.arrangement_id, "milestone_id": m.id,
                                "completed_on": str(m.completed_on)},
                               [("milestone", m.id, "")]))

    tm = [(a, t) for a, t in parsed if isinstance(t, TimeAndMaterialsTerms)]
    if tm:
        default_tm = tm[0][0].id
        by_arr: dict[int, list[WorkEntry]] = {}
        for e in ctx.time.get(client.id, []):
            target = e.arrangement_id if e.arrangement_id in {a.id for a, _ in tm} else default_tm
            by_arr.setdefault(target, []).append(
                WorkEntry(e.id, e.person, e.role, e.day, Decimal(e.hours_centi) / 100))
        allowances = _allowances(retainers, start, end, ctx.included_used)
        for a, t in tm:
            entries = by_arr.get(a.id, [])
            if not entries:
                continue
            billed = Decimal(ctx.billed_on.get(a.id, 0)).scaleb(-places)
            tl, cut = time_lines(a.id, t, entries, allowances, cur, billed, included_since=start)
            # what this arrangement used of the retainers' hours is gone for the next one
            used = {k: Decimal(v) for ln in tl for k, v in ln.source.get("included_used", {}).items()}
            allowances = [Allowance(x.key, x.period, x.hours - used.get(x.key, Decimal(0))) for x in allowances]
            lines.extend(tl)
            capped = capped or cut

    for a, t in parsed:
        if isinstance(t, PassThroughTerms):
            for x in ctx.expenses.get(client.id, []):
                if x.arrangement_id == a.id:
                    cost = Money.from_minor(x.cost_minor, x.currency).amount
                    lines.append(pass_through_line(a.id, x.id, x.description, cost, t.markup_pct, cur))

    by_id = {a.id: (a, t) for a, t in retainers}
    credited = dict(ctx.sla_credited)  # "<retainer id>:<period key>" -> credited so far, this draft included
    for a, t in parsed:
        if isinstance(t, SlaCreditTerms):
            ret_id = t.retainer_arrangement_id or (retainers[0][0].id if retainers else None)
            ret = by_id.get(ret_id) if ret_id else None
            for b in ctx.breaches.get(client.id, []):
                if b.arrangement_id != a.id:
                    continue
                source: dict[str, object] = {"arrangement_id": a.id, "breach_id": b.id,
                                             "retainer_arrangement_id": ret_id}
                if ret is None:  # a fixed credit with no retainer to cap it
                    amount = sla_credit_amount(t.fixed_amount or Decimal(0), None, t.fixed_amount, cur)
                else:
                    # All credits for one retainer period, on whatever invoices, never exceed that period's fee.
                    ra, rt = ret
                    p = period_containing(b.occurred_on, rt.cycle)
                    key = f"{ra.id}:{p.key}"
                    ceiling = round_money(rt.fee * coverage(p, ra.starts_on, ra.ends_on), cur)
                    amount = sla_credit_amount(ceiling, t.credit_pct, t.fixed_amount, cur)
                    amount = max(min(amount, ceiling - credited.get(key, Decimal(0))), Decimal(0))
                    credited[key] = credited.get(key, Decimal(0)) + amount
                    source["retainer_period"] = key
                lines.append(DraftLine("sla_credit", f"SLA credit: {b.description} ({b.occurred_on})"
                                       + ("" if amount else " — the period's credits already reach its retainer"),
                                       Decimal(1), "item", -amount, -amount, a.id, source,
                                       [("breach", b.id, "")]))
    return lines, capped

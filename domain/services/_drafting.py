"""Building an invoice's lines from a client's arrangements and unbilled work (used by drafting).

Every arrangement is priced by its versions (issue 13): a period that spans an amendment is split by day, or priced
whole by the version of its first day (the workspace's `amendment_proration`); time, expenses and breaches by the
version in force on their date. Each line's source names the version that priced it (`terms_version`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

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
    line_text,
    pass_through_line,
    rate_for,
    retainer_line,
    sla_credit_amount,
    subscription_line,
    time_lines,
)
from domain.model.money import Money, minor_exponent, round_money
from domain.model.periods import Cycle, Period, coverage, period_containing, periods_between
from domain.model.versions import Priced, Proration, Version, in_force, owner, period_pricing
from domain.services._context import BillingContext
from domain.store.tables import ArrangementRow, ClientRow


def terms_of(a: ArrangementRow, terms: Mapping[str, Any] | None = None) -> object:
    """The arrangement's terms as their model: its current terms, or those of one version (`terms`)."""
    if a.kind == "milestone":
        return None  # its milestones are rows of their own
    return TERMS_BY_KIND[a.kind].model_validate(
        {**(a.terms if terms is None else terms), "kind": a.kind, "starts_on": a.starts_on, "ends_on": a.ends_on,
         "name": a.name})


def base_version(a: ArrangementRow) -> Version:
    """Version 1 of an arrangement made before versions were stored: its terms row, from the start."""
    return Version(None, 1, a.starts_on or date.min, dict(a.terms))


class TermsCache:
    """Parsed terms per (arrangement, version), so a month-end run validates each version once."""

    def __init__(self) -> None:
        self.cache: dict[tuple[int, int], object] = {}

    def terms(self, a: ArrangementRow, v: Version) -> object:
        key = (a.id, v.number)
        if key not in self.cache:
            self.cache[key] = terms_of(a, v.terms)
        return self.cache[key]


def stamp(line: DraftLine, v: Version) -> DraftLine:
    """Say which version of the terms priced a line."""
    line.source["terms_version"] = v.number
    if v.id is not None:
        line.source["terms_version_id"] = v.id
    return line


def _span_text(pr: Priced) -> str:
    return f"{pr.start.strftime('%d %b')}–{pr.end.strftime('%d %b')}"


def periodic_lines(a: ArrangementRow, versions: Sequence[Version], p: Period, mode: Proration, currency: str,
                   cache: TermsCache | None = None) -> list[DraftLine]:
    """The lines one period of a retainer or subscription bills under its versions. The first line claims the
    period, so it is billed once whatever the split."""
    cache = cache or TermsCache()
    v0 = owner(versions, p)
    if v0 is None:
        return []
    t0 = cache.terms(a, v0)
    prorate = t0.prorate if isinstance(t0, RetainerTerms) else True
    out: list[DraftLine] = []
    pieces = period_pricing(versions, p, a.starts_on, a.ends_on, mode, prorate)
    for pr in pieces:
        t = cache.terms(a, pr.version)
        if isinstance(t, RetainerTerms):
            ln = retainer_line(a.id, a.name, t.fee, p, pr.share, currency, t.billing)
        elif isinstance(t, SubscriptionTerms):
            ln = subscription_line(a.id, t.product, t.seats, t.unit_price, p, pr.share, currency)
        else:  # pragma: no cover - only periodic kinds come here
            continue
        if not pr.whole:
            ln.description += f" ({_span_text(pr)}, version {pr.version.number})"
        if out:
            ln.claims = []
        out.append(stamp(ln, pr.version))
    return out


def _due_periods(a: ArrangementRow, versions: Sequence[Version], cache: TermsCache, start: date, end: date,
                 ) -> list[Period]:
    return [p for p, _anchor in due_periods(a, versions, cache, start, end)]


def due_periods(a: ArrangementRow, versions: Sequence[Version], cache: TermsCache, start: date, end: date,
                ) -> list[tuple[Period, date]]:
    """Periods of an arrangement that fall due in [start, end], with the day each falls due: its first day when
    billed in advance, its last day in arrears; only periods the contract covers. A period belongs to the cycle
    (and advance or arrears) of the first version in force in it, so a cycle changed by an amendment takes effect
    from its date, not before (cycle changes take effect on period boundaries)."""
    out: dict[str, tuple[Period, date]] = {}
    regimes = {(c, b) for v in versions if v.terms is not None
               for t in [cache.terms(a, v)] for c, b in [_cycle_billing(t)]}
    for cycle, billing in sorted(regimes):
        first = max(start, a.starts_on) if a.starts_on else start
        for p in periods_between(first if billing == "advance" else start, end, cycle):
            v = owner(versions, p)
            if v is None or _cycle_billing(cache.terms(a, v)) != (cycle, billing):
                continue
            anchor = p.start if billing == "advance" else p.end
            # a contract starting mid-period still owes its first, partial period
            if billing == "advance" and a.starts_on and p.start < a.starts_on <= p.end:
                anchor = a.starts_on
            if start <= anchor <= end and coverage(p, a.starts_on, a.ends_on) > 0:
                out[p.key] = (p, anchor)
    return sorted(out.values())


def _cycle_billing(t: object) -> tuple[Cycle, str]:
    if isinstance(t, RetainerTerms):
        return t.cycle, t.billing
    if isinstance(t, SubscriptionTerms):
        return t.cycle, "advance"
    return Cycle.MONTHLY, "advance"


def _allowances(retainers: list[tuple[ArrangementRow, list[Version]]], cache: TermsCache, start: date, end: date,
                used_elsewhere: dict[str, Decimal]) -> list[Allowance]:
    """Included hours each retainer period offers the window [start, end]: the window's share of the period
    (by days the contract covers), never more than what other invoices have left of that period's hours. A
    period's included hours are those of the version in force on its first day."""
    out = []
    for a, versions in retainers:
        cycles = {_cycle_billing(cache.terms(a, v))[0] for v in versions if v.terms is not None}
        for cycle in sorted(cycles):
            for p in periods_between(start, end, cycle):
                v = owner(versions, p)
                if v is None:
                    continue
                t = cache.terms(a, v)
                assert isinstance(t, RetainerTerms)
                if t.cycle != cycle or not t.included_hours:
                    continue
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


def _covers(a: ArrangementRow, versions: Sequence[Version], day: date) -> bool:
    """Whether the arrangement bills work done on `day`: not after its end, not in a gap."""
    if a.ends_on is not None and day > a.ends_on:
        return False
    return in_force(versions, day).terms is not None


def period_total(a: ArrangementRow, versions: Sequence[Version], p: Period, mode: Proration, currency: str,
                 ) -> Decimal:
    """What one period of a periodic arrangement comes to under these versions (the amendments' yardstick)."""
    return sum((ln.amount for ln in periodic_lines(a, versions, p, mode, currency)), Decimal(0))


def reprice_time_line(a: ArrangementRow, versions: Sequence[Version], quantity: Decimal, entries: list[WorkEntry],
                      currency: str, cache: TermsCache | None = None) -> tuple[Decimal, set[int]] | None:
    """What a billed time line comes to when each of its entries is priced by the version in force on its day
    (an amendment dated back before them), and the versions that price it. `quantity` is the line's billable
    hours: when included hours took part of the entries, they took the earliest (they are used in date order),
    so the billable hours are the latest. None when a tiered version prices it (tiers price a total, not an
    entry: such lines are left as billed)."""
    cache = cache or TermsCache()
    left = quantity
    by_rate: dict[Decimal, Decimal] = {}
    numbers: set[int] = set()
    for e in sorted(entries, key=lambda e: (e.day, e.id), reverse=True):
        if left <= 0:
            break
        hours = min(e.hours, left)
        left -= hours
        v = in_force(versions, e.day)
        if v.terms is None:
            continue
        t = cache.terms(a, v)
        assert isinstance(t, TimeAndMaterialsTerms)
        if t.tiers:
            return None
        rate = rate_for(t, e.person, e.role)
        by_rate[rate] = by_rate.get(rate, Decimal(0)) + hours
        numbers.add(v.number)
    return sum((round_money(h * r, currency) for r, h in by_rate.items()), Decimal(0)), numbers


def build_lines(ctx: BillingContext, client: ClientRow, start: date, end: date) -> tuple[list[DraftLine], bool]:
    """Every line due for the client in [start, end], and whether a not-to-exceed cap cut the time.

    Reads only the pre-loaded context, so a month-end run drafts thousands of clients without a query each.
    """
    cur = client.currency
    places = minor_exponent(cur)
    cache = TermsCache()
    arrangements = ctx.arrangements.get(client.id, [])
    vers = {a.id: ctx.versions.get(a.id) or [base_version(a)] for a in arrangements}
    lines: list[DraftLine] = []
    capped = False
    retainers = [(a, vers[a.id]) for a in arrangements if a.kind == "retainer"]

    for a in arrangements:
        if a.kind in ("retainer", "subscription"):
            for p in _due_periods(a, vers[a.id], cache, start, end):
                if ctx.period_claimed(a.id, p.key):
                    continue
                lines.extend(periodic_lines(a, vers[a.id], p, ctx.proration, cur, cache))

    for m in ctx.milestones.get(client.id, []):
        amount = Money.from_minor(m.amount_minor, m.currency).amount
        lines.append(DraftLine("milestone", f"Milestone: {m.name} (completed {m.completed_on})", Decimal(1),
                               "item", amount, amount, m.arrangement_id,
                               {"arrangement_id": m.arrangement_id, "milestone_id": m.id,
                                "completed_on": str(m.completed_on),
                                "text": line_text("milestone", name=m.name, completed_on=str(m.completed_on))},
                               [("milestone", m.id, "")]))

    tm = [a for a in arrangements if a.kind == "time_and_materials"]
    if tm:
        tm_ids = {a.id for a in tm}
        by_arr: dict[int, list[WorkEntry]] = {}
        for e in ctx.time.get(client.id, []):
            if e.arrangement_id in tm_ids:
                target: int | None = e.arrangement_id
            else:  # the first time and materials arrangement that bills work of that day
                target = next((a.id for a in tm if _covers(a, vers[a.id], e.day)), None)
            by_arr.setdefault(target or 0, []).append(
                WorkEntry(e.id, e.person, e.role, e.day, Decimal(e.hours_centi) / 100))
        allowances = _allowances(retainers, cache, start, end, ctx.included_used)
        for a in tm:
            # work after the arrangement's end (or in a gap) is not billed by it: it stays unbilled
            entries = [w for w in by_arr.get(a.id, []) if _covers(a, vers[a.id], w.day)]
            billed = Decimal(ctx.billed_on.get(a.id, 0)).scaleb(-places)
            # each entry is priced by the version in force on its day
            groups: dict[int, tuple[Version, list[WorkEntry]]] = {}
            for w in entries:
                v = in_force(vers[a.id], w.day)
                groups.setdefault(v.number, (v, []))[1].append(w)
            for _n, (v, group) in sorted(groups.items(), key=lambda kv: min(w.day for w in kv[1][1])):
                t = cache.terms(a, v)
                assert isinstance(t, TimeAndMaterialsTerms)
                tl, cut = time_lines(a.id, t, group, allowances, cur, billed, included_since=start)
                # what this arrangement used of the retainers' hours is gone for the next one
                used = {k: Decimal(u) for ln in tl for k, u in ln.source.get("included_used", {}).items()}
                allowances = [Allowance(x.key, x.period, x.hours - used.get(x.key, Decimal(0))) for x in allowances]
                billed += sum((ln.amount for ln in tl), Decimal(0))
                lines.extend(stamp(ln, v) for ln in tl)
                capped = capped or cut

    for a in arrangements:
        if a.kind == "pass_through":
            for x in ctx.expenses.get(client.id, []):
                if x.arrangement_id == a.id:
                    v = in_force(vers[a.id], x.day)
                    t = cache.terms(a, v)
                    assert isinstance(t, PassThroughTerms)
                    cost = Money.from_minor(x.cost_minor, x.currency).amount
                    lines.append(stamp(pass_through_line(a.id, x.id, x.description, cost, t.markup_pct, cur), v))

    by_id = {a.id: (a, vs) for a, vs in retainers}
    credited = dict(ctx.sla_credited)  # "<retainer id>:<period key>" -> credited so far, this draft included
    for a in arrangements:
        if a.kind != "sla_credit":
            continue
        for b in ctx.breaches.get(client.id, []):
            if b.arrangement_id != a.id:
                continue
            v = in_force(vers[a.id], b.occurred_on)
            t = cache.terms(a, v)
            assert isinstance(t, SlaCreditTerms)
            ret_id = t.retainer_arrangement_id or (retainers[0][0].id if retainers else None)
            ret = by_id.get(ret_id) if ret_id else None
            source: dict[str, object] = {"arrangement_id": a.id, "breach_id": b.id,
                                         "retainer_arrangement_id": ret_id}
            if ret is None:  # a fixed credit with no retainer to cap it
                amount = sla_credit_amount(t.fixed_amount or Decimal(0), None, t.fixed_amount, cur)
            else:
                # All credits for one retainer period, on whatever invoices, never exceed that period's fee.
                ra, rvs = ret
                rt = cache.terms(ra, in_force(rvs, b.occurred_on))
                assert isinstance(rt, RetainerTerms)
                p = period_containing(b.occurred_on, rt.cycle)
                key = f"{ra.id}:{p.key}"
                ceiling = round_money(period_total(ra, rvs, p, ctx.proration, cur), cur)
                amount = sla_credit_amount(ceiling, t.credit_pct, t.fixed_amount, cur)
                amount = max(min(amount, ceiling - credited.get(key, Decimal(0))), Decimal(0))
                credited[key] = credited.get(key, Decimal(0)) + amount
                source["retainer_period"] = key
            source["text"] = line_text("sla_credit", description=b.description, occurred_on=str(b.occurred_on),
                                  exhausted=int(not amount))
            lines.append(stamp(DraftLine("sla_credit", f"SLA credit: {b.description} ({b.occurred_on})"
                                         + ("" if amount else " — the period's credits already reach its retainer"),
                                         Decimal(1), "item", -amount, -amount, a.id, source,
                                         [("breach", b.id, "")]), v))

    # differences amendments left on periods already invoiced: on this, the next invoice
    for adj in ctx.adjustments.get(client.id, []):
        amount = Money.from_minor(adj.amount_minor, adj.currency).amount
        lines.append(DraftLine(adj.section, adj.description, Decimal(1), "item", amount, amount, adj.arrangement_id,
                               {"arrangement_id": adj.arrangement_id, "adjustment_id": adj.id,
                                "amendment_version_id": adj.version_id, "adjusts_period": adj.period_key,
                                **({"text": adj.text} if adj.text else {})},
                               [("adjustment", adj.id, "")]))
    return lines, capped

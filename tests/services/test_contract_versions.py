"""Versions of the terms at work (issue 13): time priced by the version in force on its day, re-priced when an
amendment is dated back over time already invoiced; previews that store nothing; the scheduler's due dates by the
cycle of the version in force.

The clock stands at 2026-04-01; March is the month that gets billed, then changed after the fact.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from domain.model.events import EventType
from domain.services import contracts, invoicing, rules, schedules
from domain.store.clock import FixedClock
from tests.services.conftest import APRIL, MARCH, World


def _amend(world: World, client_id: int, arrangement_id: int, effective_on: str, **terms: Any,
           ) -> contracts.ChangeResult:
    return world.call(contracts.amend_arrangement, world.actor("finance"), client_id, arrangement_id,
                      {"effective_on": effective_on, "terms": terms})


def _priced(world: World, invoice_id: int) -> list[tuple[str, str, str, int | None]]:
    """(description, unit price, amount, version that priced it) of each line."""
    with world.db.uow() as uow:
        inv = uow.invoices.get(invoice_id)
        assert inv is not None
        v = invoicing.get_invoice(uow, world.system, invoice_id)
        return [(ln.description, lv.unit_price, lv.amount, ln.source.get("terms_version"))
                for ln, lv in zip(sorted(inv.lines, key=lambda x: x.position), v.lines, strict=True)]


def test_time_logged_late_for_a_day_before_an_amendment_is_priced_by_the_old_version(world: World) -> None:
    c = world.client("Rates Ltd")
    a = world.arrangement(c.id, "time_and_materials", default_rate="100.00", role_rates={"architect": "140.00"},
                          person_rates={"bob@dev.example": "90.00"}, starts_on="2026-01-01")
    _amend(world, c.id, a.id, "2026-03-15", default_rate="110.00", role_rates={"architect": "160.00"},
           person_rates={"bob@dev.example": "95.00"})
    # all logged after the amendment was made, for days on both sides of it
    world.log(c.id, date(2026, 3, 3), "1")                                   # default, v1: 100
    world.log(c.id, date(2026, 3, 20), "1")                                  # default, v2: 110
    world.log(c.id, date(2026, 3, 4), "2", role="architect")                 # role, v1: 140
    world.log(c.id, date(2026, 3, 16), "2", role="architect")                # role, v2: 160
    world.log(c.id, date(2026, 3, 5), "1", person="bob@dev.example", role="architect")   # person, v1: 90
    world.log(c.id, date(2026, 3, 25), "1", person="bob@dev.example", role="architect")  # person, v2: 95
    inv = world.draft(c.id, MARCH)
    got = sorted((price, amount, version) for _, price, amount, version in _priced(world, inv.id))
    assert got == [("100.00", "100.00", 1), ("110.00", "110.00", 2), ("140.00", "280.00", 1),
                   ("160.00", "320.00", 2), ("90.00", "90.00", 1), ("95.00", "95.00", 2)]


def test_an_amendment_dated_back_over_invoiced_time_bills_the_difference_next(world: World) -> None:
    c = world.client("Backdated Ltd")
    a = world.arrangement(c.id, "time_and_materials", default_rate="100.00", starts_on="2026-01-01")
    world.log(c.id, date(2026, 3, 10), "2")
    world.log(c.id, date(2026, 3, 20), "3")
    march = world.issued(c.id, MARCH)
    assert march.subtotal == "500.00"
    result = _amend(world, c.id, a.id, "2026-03-15", default_rate="120.00")
    # the 3 h of the 20th were billed at 100 and are now priced at 120; the 2 h of the 10th stand
    [adj] = result.preview.adjustments
    assert (adj.amount, adj.disposition, adj.invoice_id) == ("60.00", "next_invoice", march.id)
    assert march.number is not None and march.number in adj.description and "version 2" in adj.description
    # the issued invoice is untouched; April carries the difference, naming the amendment
    again = world.call(invoicing.get_invoice, world.system, march.id)
    assert again.subtotal == "500.00"
    world.log(c.id, date(2026, 4, 1), "1")
    april = world.draft(c.id, APRIL)
    assert sorted(ln.amount for ln in april.lines) == ["120.00", "60.00"]
    with world.db.uow() as uow:
        inv = uow.invoices.get(april.id)
        assert inv is not None
        src = {ln.amount_minor: dict(ln.source) for ln in inv.lines}
    assert src[6000]["amendment_version_id"] == result.version.id if result.version else False
    assert src[12000]["terms_version"] == 2
    # amended again: only what the first adjustment did not already bill (and April's draft, priced at 120, is
    # not rewritten either: it is billed as it stands, and differs by 10.00)
    again_result = _amend(world, c.id, a.id, "2026-03-18", default_rate="130.00")
    assert [x.amount for x in again_result.preview.adjustments] == ["30.00", "10.00"]


def test_an_ended_arrangement_credits_time_it_billed_too_high(world: World) -> None:
    c = world.client("Credit Ltd")
    a = world.arrangement(c.id, "time_and_materials", default_rate="100.00", starts_on="2026-01-01")
    world.log(c.id, date(2026, 3, 20), "2")
    march = world.issued(c.id, MARCH)
    world.call(contracts.end_arrangement, world.actor("finance"), c.id, a.id, {"ends_on": "2026-03-31"})
    # the rate agreed for March was 80: a credit, proposed as a credit note since nothing will bill again
    result = _amend(world, c.id, a.id, "2026-03-01", default_rate="80.00")
    [adj] = result.preview.adjustments
    assert (adj.amount, adj.disposition, adj.invoice_id) == ("-40.00", "credit_note", march.id)
    view = world.call(contracts.credit_proposed, world.actor("finance"), adj.id)
    assert view.billed_on_invoice_id is not None
    note = world.call(invoicing.get_invoice, world.system, view.billed_on_invoice_id)
    assert (note.kind, note.total) == ("credit_note", "-47.60") or (note.kind, note.total) == ("credit_note", "47.60")


def test_previews_compute_the_effect_and_store_nothing(world: World) -> None:
    c = world.client("Preview GmbH")
    a = world.arrangement(c.id, "subscription", product="Managed EDR", seats=48, unit_price="7.50",
                          starts_on="2026-01-01")
    world.issued(c.id, MARCH)
    before, audit = world.snapshot(), world.audit_count()
    body = {"effective_on": "2026-03-10", "terms": {"seats": 52}}
    preview = world.call(contracts.amend_arrangement, world.actor("finance"), c.id, a.id, body, dry_run=True)
    ended = world.call(contracts.end_arrangement, world.actor("finance"), c.id, a.id, {"ends_on": "2026-04-30"},
                       dry_run=True)
    assert world.snapshot() == before and world.audit_count() == audit
    assert [x.amount for x in preview.preview.adjustments] == ["21.29"]
    assert preview.version is not None and preview.version.number == 2 and preview.version.status == "active"
    assert ended.arrangement.ends_on == date(2026, 4, 30)
    done = world.call(contracts.amend_arrangement, world.actor("finance"), c.id, a.id, body)
    assert [x.amount for x in done.preview.adjustments] == [x.amount for x in preview.preview.adjustments]
    assert [ln.amount for ln in done.preview.next_lines] == [ln.amount for ln in preview.preview.next_lines]


def test_the_scheduler_uses_the_cycle_of_the_version_in_force(world: World) -> None:
    rules.put_rules(world.db.uow(), world.system,
                    "rules:\n  - {id: retainers, on: period.due, action: bill_period, clean_draft: hold_for_review}\n")
    c = world.client("Cycle Ltd")
    a = world.arrangement(c.id, "retainer", fee="3000.00", cycle="monthly", billing="advance",
                          starts_on="2026-01-01")
    # quarterly in arrears from July, decided in April
    result = _amend(world, c.id, a.id, "2026-07-01", cycle="quarterly", billing="arrears", fee="9000.00")
    assert result.arrangement.terms["cycle"] == "quarterly"  # the row shows the newest terms...

    def due(on: date) -> list[str]:
        with world.db.uow() as uow:
            book = rules.current_book(uow)
            assert book.listens(EventType.PERIOD_DUE)
            return [i.event_id for i in schedules.due_items(uow, book, on) if f":{a.id}:" in i.event_id]

    # ...but every month up to June still falls due monthly in advance, on its first day (nothing is billed
    # yet, so the catch-up finds each one)
    months = [f"period:{a.id}:2026-{m:02d}-01..2026-{m:02d}-{d}" for m, d in
              ((1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30))]
    assert due(date(2026, 5, 1)) == months[:5]
    # July opens a quarter billed in arrears: nothing new is due on its first day (no July month either), the
    # quarter on its last (within the rule's catch-up horizon, the months before are still found)
    quarter = f"period:{a.id}:2026-07-01..2026-09-30"
    assert due(date(2026, 7, 1))[-1] == months[-1]
    assert due(date(2026, 9, 29))[-1:] == [months[-1]]
    on_the_last_day = due(date(2026, 9, 30))
    assert on_the_last_day[-1] == quarter and not any("2026-07-31" in k or "2026-08-" in k for k in on_the_last_day)
    # and the tick emits it
    clock = world.db.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime(2026, 5, 1, 6, 0, tzinfo=UTC))
    assert f"period:{a.id}:2026-05-01..2026-05-31" in schedules.tick(world.db.uow(), world.system).emitted


def test_the_explanation_of_a_rise_cites_the_amendment(world: World) -> None:
    from domain.services import insights

    c = world.client("Nordwerk GmbH")
    a = world.arrangement(c.id, "subscription", name="Endpoint protection", product="Managed EDR", seats=48,
                          unit_price="7.50", starts_on="2026-01-01")
    world.issued(c.id, MARCH)
    result = world.call(contracts.amend_arrangement, world.actor("finance"), c.id, a.id,
                        {"effective_on": "2026-03-10", "terms": {"seats": 52}, "reason": "4 new laptops"})
    april = world.draft(c.id, APRIL)
    x = world.call(insights.explain_invoice, world.system, april.id)
    assert x.total_change is not None and x.total_change.startswith("+")
    [cause] = x.amendments
    assert (cause.arrangement, cause.version, cause.effective_on, cause.changes) == (
        "Endpoint protection", 2, date(2026, 3, 10), {"seats": [48, 52]})
    assert cause.by == "fin@books.example" and cause.reason == "4 new laptops" and cause.lines == [1, 2]
    assert cause.seq is not None
    with world.db.uow() as uow:
        [recorded] = [e for e in uow.audit_log.for_subject("arrangement", str(a.id)) if e.seq == cause.seq]
        assert recorded.action == "arrangement.amended"
    assert result.version is not None
    sources = [ln.source for ln in x.lines]
    assert "priced by version 2 of the terms" in sources[0] and "adjusts period 2026-03-01..2026-03-31" in sources[1]
    # March, priced before the amendment and explained against nothing, cites none
    march = world.call(invoicing.list_invoices, world.system, client_id=c.id, status="issued")[0]
    assert world.call(insights.explain_invoice, world.system, march.id).amendments == []

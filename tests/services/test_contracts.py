"""Contracts that change (issue 13): amendments from a date, ends, reopenings, cancelled milestones, archived clients.

The clock stands at 2026-04-01; March is the month that gets billed, then changed after the fact.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import BadTransition, Conflict, Forbidden, NotFound, ValidationFailed
from domain.services import billing_run, clients, contracts, invoicing, work, workspace
from domain.services.views import InvoiceView
from tests.services.conftest import APRIL, MARCH, World


def _subscription(world: World, seats: int = 48, **kw: Any) -> tuple[int, int]:
    c = world.client("Nordwerk GmbH", **kw)
    a = world.arrangement(c.id, "subscription", product="Managed EDR", seats=seats, unit_price="7.50",
                          starts_on="2026-01-01")
    return c.id, a.id


def _amend(world: World, client_id: int, arrangement_id: int, effective_on: str, actor: Any = None,
           **terms: Any) -> contracts.ChangeResult:
    return world.call(contracts.amend_arrangement, actor or world.actor("finance"), client_id, arrangement_id,
                      {"effective_on": effective_on, "terms": terms})


def _lines(inv: InvoiceView) -> list[tuple[str, str]]:
    return [(ln.description, ln.amount) for ln in inv.lines]


def _sources(world: World, invoice_id: int) -> list[dict[str, Any]]:
    with world.db.uow() as uow:
        inv = uow.invoices.get(invoice_id)
        assert inv is not None
        return [dict(ln.source) for ln in inv.lines]


# ---- amendments and the invoices they price ---------------------------------------------------------------------


def test_seats_rise_mid_month_after_invoicing_bill_the_prorated_difference_next(world: World) -> None:
    cid, aid = _subscription(world)
    march = world.issued(cid, MARCH)
    assert march.subtotal == "360.00"
    result = _amend(world, cid, aid, "2026-03-10", seats=52)
    assert result.version is not None and result.version.number == 2 and result.version.status == "active"
    assert result.version.changes == {"seats": [48, 52]}
    # 48 seats for 9 days and 52 for 22 of March's 31: 104.52 + 276.77 = 381.29, 21.29 more than invoiced
    assert [(a.period, a.amount, a.disposition) for a in result.preview.adjustments] == [
        ("2026-03-01..2026-03-31", "21.29", "next_invoice")]
    assert result.preview.next_period == "2026-04-01..2026-04-30"
    assert [(ln.amount, ln.terms_version) for ln in result.preview.next_lines] == [("390.00", 2)]
    # the issued invoice is untouched
    again = world.call(invoicing.get_invoice, world.system, march.id)
    assert (again.subtotal, _lines(again)) == (march.subtotal, _lines(march))
    april = world.draft(cid, APRIL)
    assert [a for _, a in _lines(april)] == ["390.00", "21.29"]
    src = _sources(world, april.id)
    assert src[0]["terms_version"] == 2 and src[0]["terms_version_id"] == result.version.id
    assert src[1]["amendment_version_id"] == result.version.id and src[1]["adjusts_period"] == MARCH[0].isoformat() \
        + ".." + MARCH[1].isoformat()
    # billed once: a second amendment later in March counts what the first already added
    result2 = _amend(world, cid, aid, "2026-03-20", seats=50)
    # 48x9 + 52x10 + 50x12 days of 31 at 7.50: 104.52 + 125.81 + 145.16 = 375.49; 381.29 billed: -5.80;
    # April, drafted at 52 seats (a draft is never rewritten either), 15.00 less
    assert [a.amount for a in result2.preview.adjustments] == ["-5.80", "-15.00"]


def test_a_period_spanning_an_amendment_is_split_by_day_or_priced_by_its_first_day(world: World) -> None:
    cid, aid = _subscription(world)
    _amend(world, cid, aid, "2026-03-10", seats=52)
    march = world.draft(cid, MARCH)
    assert [a for _, a in _lines(march)] == ["104.52", "276.77"]
    assert [s["terms_version"] for s in _sources(world, march.id)] == [1, 2]
    world.call(invoicing.discard_draft, world.system, march.id)
    world.call(workspace.update_settings, world.actor("owner"), {"amendment_proration": "first_day"})
    march = world.draft(cid, MARCH)
    assert [a for _, a in _lines(march)] == ["360.00"]
    assert [s["terms_version"] for s in _sources(world, march.id)] == [1]


def test_a_lower_fee_dated_inside_an_invoiced_period_is_a_credit_on_the_next_invoice(world: World) -> None:
    c = world.client("Fee Ltd")
    a = world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01")
    world.issued(c.id, MARCH)
    result = _amend(world, c.id, a.id, "2026-03-16", fee="800.00")
    # 1000 x 15/31 + 800 x 16/31 = 483.87 + 412.90 = 896.77: 103.23 back
    assert [(x.amount, x.disposition) for x in result.preview.adjustments] == [("-103.23", "next_invoice")]
    april = world.draft(c.id, APRIL)
    assert [amt for _, amt in _lines(april)] == ["800.00", "-103.23"]
    assert "fee 1000.00 → 800.00 from 2026-03-16" in april.lines[1].description


def test_time_is_priced_by_the_version_in_force_on_its_day(world: World) -> None:
    c = world.client("Hours Ltd")
    a = world.arrangement(c.id, "time_and_materials", default_rate="100.00", starts_on="2026-01-01")
    world.log(c.id, date(2026, 3, 10), "2")
    world.log(c.id, date(2026, 3, 20), "3")
    result = _amend(world, c.id, a.id, "2026-03-15", default_rate="120.00")
    assert result.preview.adjustments == [] and "priced with the new terms" in result.preview.note
    inv = world.draft(c.id, MARCH)
    assert sorted(a for _, a in _lines(inv)) == ["200.00", "360.00"]
    assert sorted(s["terms_version"] for s in _sources(world, inv.id)) == [1, 2]


def test_rates_merge_by_name_and_versions_are_kept(world: World) -> None:
    c = world.client("Rates Ltd")
    a = world.arrangement(c.id, "time_and_materials", role_rates={"engineer": "100.00", "architect": "150.00"},
                          starts_on="2026-01-01")
    _amend(world, c.id, a.id, "2026-02-01", role_rates={"engineer": "110.00", "architect": None})
    listed = world.call(contracts.list_versions, world.system, c.id, a.id)
    assert [(v.number, v.effective_on, v.status) for v in listed.versions] == [
        (1, date(2026, 1, 1), "active"), (2, date(2026, 2, 1), "active")]
    assert listed.versions[0].terms is not None and listed.versions[0].terms["role_rates"] == {
        "engineer": "100.00", "architect": "150.00"}
    assert listed.versions[1].terms is not None and listed.versions[1].terms["role_rates"] == {"engineer": "110.00"}
    assert listed.arrangement.terms["role_rates"] == {"engineer": "110.00"}


def test_a_cycle_change_takes_effect_on_a_period_boundary(world: World) -> None:
    cid, aid = _subscription(world)
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        _amend(world, cid, aid, "2026-03-10", cycle="quarterly")
    assert e.value.field == "effective_on" and e.value.code == "amendment.mid_period_cycle"
    assert world.snapshot() == before
    _amend(world, cid, aid, "2026-04-01", cycle="quarterly", unit_price="22.50")
    inv = world.draft(cid, (date(2026, 3, 1), date(2026, 4, 30)))
    assert [a for _, a in _lines(inv)] == ["360.00", "1080.00"]  # March monthly, then the second quarter


# ---- bad input: 422 naming the field, nothing changed ---------------------------------------------------------


BAD_AMENDMENTS: list[tuple[dict[str, Any], str, str]] = [
    ({"effective_on": "2026-03-10", "terms": {"seats": 0}}, "terms.seats", "validation.invalid"),
    ({"effective_on": "2026-03-10", "terms": {"colour": "red"}}, "terms.colour", "amendment.unknown_field"),
    ({"effective_on": "2025-12-31", "terms": {"seats": 50}}, "effective_on", "amendment.before_start"),
    ({"effective_on": "2026-01-01", "terms": {"seats": 50}}, "effective_on", "amendment.overlap"),
    ({"effective_on": "2026-03-10", "terms": {"seats": 48}}, "terms", "amendment.no_change"),
    ({"effective_on": "2026-03-10", "terms": {"unit_price": "7.505"}}, "terms.unit_price", "validation.too_precise"),
    ({"effective_on": "2026-03-10", "terms": {}}, "terms", "validation.invalid"),
    ({"effective_on": "2026-03-10", "terms": {"seats": 50}, "colour": 1}, "colour", "validation.invalid"),
]


def test_bad_amendments_are_refused_naming_the_field(world: World) -> None:
    cid, aid = _subscription(world)
    before = world.snapshot()
    for body, field, code in BAD_AMENDMENTS:  # one contract: each refusal changes nothing, so each meets the same
        with pytest.raises(ValidationFailed) as e:
            world.call(contracts.amend_arrangement, world.actor("finance"), cid, aid, body)
        assert (e.value.field, e.value.code) == (field, code), body
        assert world.snapshot() == before, body


def test_a_second_amendment_for_the_same_day_overlaps(world: World) -> None:
    cid, aid = _subscription(world)
    _amend(world, cid, aid, "2026-03-10", seats=52)
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        _amend(world, cid, aid, "2026-03-10", seats=53)
    assert (e.value.field, e.value.code) == ("effective_on", "amendment.overlap")
    assert world.snapshot() == before


def test_a_dry_run_previews_exactly_what_the_change_will_do_and_keeps_nothing(world: World) -> None:
    """The dashboard shows a change's preview before it is saved: the same service, `dry_run`, nothing written
    (not even inside a caller's own transaction), and the saved change then does what the preview said."""
    cid, aid = _subscription(world, account_manager_ids=[world.user_ids["account_manager"]])
    world.issued(cid, MARCH)
    before = world.snapshot()
    trial = world.call(contracts.amend_arrangement, world.actor("finance"), cid, aid,
                       {"effective_on": "2026-03-10", "terms": {"seats": 52}}, dry_run=True)
    assert [a.amount for a in trial.preview.adjustments] == ["21.29"]
    proposal = world.call(contracts.amend_arrangement, world.actor("account_manager"), cid, aid,
                          {"effective_on": "2026-03-10", "terms": {"seats": 52}}, dry_run=True)
    ended = world.call(contracts.end_arrangement, world.actor("owner"), cid, aid, {"ends_on": "2026-03-15"},
                       dry_run=True)
    assert [a.disposition for a in ended.preview.adjustments] == ["credit_note"]
    with world.db.uow() as uow:  # inside a caller's transaction that then commits: still nothing of the trial
        contracts.amend_arrangement(uow, world.actor("owner"), cid, aid,
                                    {"effective_on": "2026-03-12", "terms": {"seats": 60}}, dry_run=True)
        uow.commit()
    assert world.snapshot() == before
    with pytest.raises(ValidationFailed) as e:  # the same checks: a refusal names the field, nothing kept
        world.call(contracts.amend_arrangement, world.actor("finance"), cid, aid,
                   {"effective_on": "2026-03-10", "terms": {"seats": 0}}, dry_run=True)
    assert e.value.field == "terms.seats"
    saved = _amend(world, cid, aid, "2026-03-10", seats=52)
    assert saved.preview == trial.preview.model_copy(update={"adjustments": saved.preview.adjustments})
    assert [(a.period, a.amount) for a in saved.preview.adjustments] == [
        (a.period, a.amount) for a in trial.preview.adjustments]
    assert proposal.version is not None and proposal.version.status == "proposed"
    assert [p.id for p in world.call(contracts.list_proposals, world.actor("finance"))] == []


def test_a_new_arrangement_is_previewed_before_it_is_added(world: World) -> None:
    c = world.client("New Ltd")
    before = world.snapshot()
    p = world.call(contracts.preview_arrangement, world.actor("finance"), c.id, {
        "kind": "subscription", "product": "EDR", "seats": 10, "unit_price": "7.50", "starts_on": "2026-04-16"})
    # half of April (15 of 30 days) for 10 seats at 7.50
    assert (p.next_period, [ln.amount for ln in p.next_lines]) == ("2026-04-01..2026-04-30", ["37.50"])
    back = world.call(contracts.preview_arrangement, world.actor("owner"), c.id, {
        "kind": "retainer", "fee": "100.00", "starts_on": "2026-02-01"})
    assert "the periods before 2026-04-01 bill too" in back.note
    with pytest.raises(ValidationFailed) as e:
        world.call(contracts.preview_arrangement, world.actor("finance"), c.id, {
            "kind": "subscription", "product": "EDR", "seats": 0, "unit_price": "7.50"})
    assert e.value.field == "seats"
    assert world.snapshot() == before


# ---- roles: owners and finance amend and end; an account manager proposes for own clients ------------------------


def test_an_account_managers_amendment_waits_for_finance(world: World) -> None:
    cid, aid = _subscription(world, account_manager_ids=[world.user_ids["account_manager"]])
    world.issued(cid, MARCH)
    am = world.actor("account_manager")
    proposed = _amend(world, cid, aid, "2026-03-10", actor=am, seats=52)
    assert proposed.version is not None and proposed.version.status == "proposed"
    assert [a.amount for a in proposed.preview.adjustments] == ["21.29"]  # what it would do, not done
    assert proposed.arrangement.terms["seats"] == 48
    waiting = world.call(contracts.list_proposals, world.actor("finance"))
    assert [(p.id, p.client_id, p.client_name, p.arrangement_name) for p in waiting] == [
        (proposed.version.id, cid, "Nordwerk GmbH", proposed.arrangement.name)]
    # nothing billed from a proposal
    assert [a for _, a in _lines(world.draft(cid, APRIL))] == ["360.00"]
    with pytest.raises(Forbidden):
        world.call(contracts.decide_amendment, am, proposed.version.id, True)
    decided = world.call(contracts.decide_amendment, world.actor("finance"), proposed.version.id, True, "ok")
    assert decided.version is not None and decided.version.status == "active"
    assert decided.arrangement.terms["seats"] == 52
    # March as invoiced, and April as drafted meanwhile at 48 seats
    assert [a.amount for a in decided.preview.adjustments] == ["21.29", "30.00"]
    assert "arrangement.amendment_approved" in world.audit_actions("arrangement", aid)


def test_a_rejected_proposal_changes_no_terms(world: World) -> None:
    cid, aid = _subscription(world, account_manager_ids=[world.user_ids["account_manager"]])
    proposed = _amend(world, cid, aid, "2026-03-10", actor=world.actor("account_manager"), seats=52)
    assert proposed.version is not None
    with pytest.raises(ValidationFailed) as e:
        world.call(contracts.decide_amendment, world.actor("finance"), proposed.version.id, False)
    assert e.value.field == "note"
    out = world.call(contracts.decide_amendment, world.actor("finance"), proposed.version.id, False, "not signed")
    assert out.version is not None and out.version.status == "rejected" and out.arrangement.terms["seats"] == 48
    assert [a for _, a in _lines(world.draft(cid, MARCH))] == ["360.00"]


@pytest.mark.parametrize("who", ["viewer", "contractor"])
def test_others_may_not_amend_or_end(world: World, who: str) -> None:
    cid, aid = _subscription(world)
    before = world.snapshot()
    with pytest.raises(Forbidden):
        _amend(world, cid, aid, "2026-03-10", actor=world.actor(who), seats=52)
    with pytest.raises(Forbidden):
        world.call(contracts.end_arrangement, world.actor(who), cid, aid, {"ends_on": "2026-03-31"})
    assert world.snapshot() == before


def test_account_managers_propose_only_for_their_own_clients_and_never_end(world: World) -> None:
    cid, aid = _subscription(world)  # nobody's client
    am = world.actor("account_manager")
    with pytest.raises(NotFound):
        _amend(world, cid, aid, "2026-03-10", actor=am, seats=52)
    mine, arr = _subscription(world, account_manager_ids=[world.user_ids["account_manager"]])
    with pytest.raises(Forbidden):
        world.call(contracts.end_arrangement, world.actor("account_manager"), mine, arr, {"ends_on": "2026-03-31"})


def test_amendments_are_audited_with_before_and_after(world: World) -> None:
    cid, aid = _subscription(world)
    _amend(world, cid, aid, "2026-03-10", seats=52)
    from domain.services import audit
    entries = [e for e in world.call(audit.audit_history, world.system, "arrangement", str(aid), 50)
               if e.action == "arrangement.amended"]
    assert len(entries) == 1
    assert entries[0].before is not None and entries[0].before["terms"]["seats"] == 48
    assert entries[0].after is not None and entries[0].after["terms"]["seats"] == 52


# ---- ending and reopening ------------------------------------------------------------------------------------------


def test_an_ended_time_and_materials_bills_its_work_up_to_the_end_and_no_more(world: World) -> None:
    c = world.client("Van Dijk B.V.")
    a = world.arrangement(c.id, "time_and_materials", default_rate="100.00", starts_on="2026-01-01")
    world.log(c.id, date(2026, 3, 18), "2")
    world.log(c.id, date(2026, 3, 25), "3")
    out = world.call(contracts.end_arrangement, world.actor("finance"), c.id, a.id, {"ends_on": "2026-03-20"})
    assert out.arrangement.ends_on == date(2026, 3, 20)
    assert "nothing after it" in out.preview.note
    inv = world.draft(c.id, MARCH)
    assert [a for _, a in _lines(inv)] == ["200.00"]
    world.log(c.id, date(2026, 4, 2), "1")
    with pytest.raises(ValidationFailed) as e:
        world.draft(c.id, APRIL)
    assert e.value.code == "invoice.nothing_to_bill"
    assert "arrangement.ended" in world.audit_actions("arrangement", a.id)


def test_a_retainer_ended_inside_a_period_billed_in_advance_proposes_a_credit_note(world: World) -> None:
    c = world.client("Leaver Ltd")
    a = world.arrangement(c.id, "retainer", fee="3100.00", starts_on="2026-01-01")
    march = world.issued(c.id, MARCH)
    out = world.call(contracts.end_arrangement, world.actor("finance"), c.id, a.id,
                     {"ends_on": "2026-03-15", "reason": "client left"})
    # 16 of 31 days unused: 1,600.00 back, as a credit note against the March invoice (nothing bills after)
    assert [(x.amount, x.disposition, x.invoice_id) for x in out.preview.adjustments] == [
        ("-1600.00", "credit_note", march.id)]
    assert "nothing more to bill" in out.preview.note
    with pytest.raises(ValidationFailed) as e:
        world.draft(c.id, APRIL)
    assert e.value.code == "invoice.nothing_to_bill"
    # finance issues the proposed credit note: 1,600.00 + 19% VAT against the March invoice, once
    adj_id = out.preview.adjustments[0].id
    assert adj_id is not None
    done = world.call(contracts.credit_proposed, world.actor("finance"), adj_id)
    assert done.billed_on_invoice_id is not None
    note = world.call(invoicing.get_invoice, world.system, done.billed_on_invoice_id)
    assert (note.kind, note.total) == ("credit_note", "1904.00")
    assert world.call(invoicing.get_invoice, world.system, march.id).balance == "1785.00"  # 3,689.00 - 1,904.00
    with pytest.raises(Conflict):
        world.call(contracts.credit_proposed, world.actor("finance"), adj_id)


def test_an_end_prorates_the_last_period(world: World) -> None:
    c = world.client("Short Ltd")
    a = world.arrangement(c.id, "retainer", fee="3100.00", starts_on="2026-01-01")
    world.call(contracts.end_arrangement, world.actor("owner"), c.id, a.id, {"ends_on": "2026-03-10"})
    assert [amt for _, amt in _lines(world.draft(c.id, MARCH))] == ["1000.00"]


def test_an_end_before_the_start_is_refused(world: World) -> None:
    c = world.client("Early Ltd")
    a = world.arrangement(c.id, "retainer", fee="100.00", starts_on="2026-02-01")
    before = world.snapshot()
    with pytest.raises(ValidationFailed) as e:
        world.call(contracts.end_arrangement, world.actor("finance"), c.id, a.id, {"ends_on": "2026-01-31"})
    assert (e.value.field, e.value.code) == ("ends_on", "arrangement.end_before_start")
    with pytest.raises(ValidationFailed) as e2:
        world.call(contracts.end_arrangement, world.actor("finance"), c.id, a.id, {"ends_on": "March"})
    assert e2.value.field == "ends_on"
    assert world.snapshot() == before


def test_a_reopened_arrangement_bills_again_after_a_gap_with_a_new_version(world: World) -> None:
    c = world.client("Back Ltd")
    a = world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01")
    world.call(contracts.end_arrangement, world.actor("finance"), c.id, a.id, {"ends_on": "2026-02-28"})
    with pytest.raises(ValidationFailed):
        _amend(world, c.id, a.id, "2026-03-10", fee="900.00")  # after its end: reopen instead
    out = world.call(contracts.reopen_arrangement, world.actor("finance"), c.id, a.id,
                     {"reopens_on": "2026-04-01", "terms": {"fee": "1200.00"}})
    assert out.version is not None and out.version.number == 3 and out.arrangement.ends_on is None
    assert [(ln.amount, ln.terms_version) for ln in out.preview.next_lines] == [("1200.00", 3)]
    inv = world.draft(c.id, (date(2026, 2, 1), date(2026, 4, 30)))
    assert [amt for _, amt in _lines(inv)] == ["1000.00", "1200.00"]  # February, nothing in March, April


# ---- milestones ---------------------------------------------------------------------------------------------------


def test_a_cancelled_milestone_is_never_billed(world: World) -> None:
    c = world.client("Project Ltd")
    a = world.arrangement(c.id, "milestone", milestones=[{"name": "Design", "amount": "500.00"},
                                                          {"name": "Build", "amount": "900.00"}])
    design, build = a.milestones
    world.call(work.complete_milestone, world.system, design.id, date(2026, 3, 5))
    with pytest.raises(ValidationFailed):
        world.call(contracts.cancel_milestone, world.actor("finance"), build.id, " ")
    view = world.call(contracts.cancel_milestone, world.actor("finance"), build.id, "scope dropped")
    assert view.cancelled_on == date(2026, 4, 1) and view.cancel_reason == "scope dropped"
    with pytest.raises(BadTransition):
        world.call(work.complete_milestone, world.system, build.id, date(2026, 3, 6))
    inv = world.issued(c.id, MARCH)
    assert [amt for _, amt in _lines(inv)] == ["500.00"]
    with pytest.raises(Conflict):
        world.call(contracts.cancel_milestone, world.actor("finance"), design.id, "too late")
    assert "milestone.cancelled" in world.audit_actions("milestone", build.id)


# ---- clients: archive and reactivate ---------------------------------------------------------------------------------


def test_an_archived_client_gets_no_drafts_but_its_open_invoices_take_payments(world: World) -> None:
    cid, _ = _subscription(world)
    other = world.retainer_client()
    inv = world.issued(cid, MARCH)
    archived = world.call(clients.archive_client, world.actor("finance"), cid, "moved to a competitor")
    assert archived.archived_at is not None
    with pytest.raises(BadTransition) as e:
        world.draft(cid, APRIL)
    assert e.value.code == "client.archived"
    report = world.call(billing_run.bill_period, world.system, *APRIL, issue=False)
    assert report.clients == 1 and report.drafted == 1  # only the other client
    paid = world.call(invoicing.record_payment, world.actor("finance"), inv.id, inv.total, date(2026, 4, 2))
    assert paid.status == "paid"
    names = [c.id for c in world.call(clients.list_clients, world.system)]
    assert names == [other]
    assert {c.id for c in world.call(clients.list_clients, world.system, include_archived=True)} == {cid, other}
    with pytest.raises(BadTransition):
        world.call(clients.archive_client, world.actor("finance"), cid)
    back = world.call(clients.reactivate_client, world.actor("finance"), cid)
    assert back.archived_at is None
    assert Decimal(world.draft(cid, APRIL).subtotal) == Decimal("360.00")
    assert world.audit_actions("client", cid)[-2:] in (["client.archived", "client.reactivated"],
                                                       ["client.reactivated", "client.archived"])


def test_only_owners_and_finance_archive(world: World) -> None:
    cid, _ = _subscription(world, account_manager_ids=[world.user_ids["account_manager"]])
    for who in ("account_manager", "viewer", "contractor"):
        with pytest.raises(Forbidden):
            world.call(clients.archive_client, world.actor(who), cid)

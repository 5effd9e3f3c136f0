"""Rules end to end at the service level (SQLite and PostgreSQL): onboarding, milestones, pilot mode, schedules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.services import clients, outbox, schedules, workspace
from domain.store.clock import FixedClock
from domain.store.tables import ClientRow, InvoiceRow
from tests.events.conftest import Events, at
from tests.support.parties import ADDRESSES

ONBOARD = """
rules:
  - id: onboard
    on: deal.won
    when: {pipeline: Services}
    action: onboard_client
    clean_draft: auto_issue
    params:
      currency: EUR
      tax_profile: {mode: standard, region: DE, rate: "19"}
      contract:
        - {kind: milestone, name: Onboarding, milestones: [{name: Onboarding, amount: "2500.00"}]}
        - {kind: milestone, name: Migration, milestones: [{name: Go-live, amount: "8000.00"}]}
      complete_milestones: [Onboarding]
  - id: milestones
    on: milestone.completed
    action: bill_milestone
    clean_draft: auto_issue
"""

DEAL = {"deal_ref": "hubspot:deal:1", "client_ref": "hubspot:company:9", "client_name": "Nordlicht AG",
        "pipeline": "Services", "won_on": "2026-03-30", "contact_email": "ap@nordlicht.example"}


def test_a_deal_won_twice_onboards_once(ev: Events) -> None:
    ev.rules(ONBOARD)
    ev.receive("deal.won", DEAL, "d-1", at=at("2026-03-30T10:00:00"))
    ev.receive("deal.won", DEAL, "d-2", at=at("2026-03-30T10:05:00"))  # the CRM sent the stage change twice
    ev.work()
    assert ev.count(ClientRow) == 1
    [inv] = ev.invoices()
    assert [ln.description for ln in inv.lines] == ["Milestone: Onboarding (completed 2026-03-30)"]
    assert "deal already won" in ev.event("billable", "d-2").result["rules"][0]["outcome"]
    # the deal brings no postal address, and an invoice must name the buyer's (Art. 226 (5)): the rule's
    # auto_issue leaves it a draft that says what to fill in, and announces the block
    assert inv.status == "draft" and inv.number is None
    [block] = [c for c in inv.checks if c["outcome"] == "block"]
    assert block["code"] == "legal_data" and "client's address.street, address.postcode, address.city" in \
        block["reason"]
    assert ev.outbox_topics() == ["invoice.blocked"]
    # filled in, the draft goes through a door: the client's first invoice then waits for an approver
    clients.update_client(ev.db.uow(), ev.system, inv.client_id, {"address": ADDRESSES["DE"]})
    from domain.services import invoicing
    assert invoicing.issue_invoice(ev.db.uow(), ev.system, inv.id).status == "pending_approval"
    assert ev.outbox_topics() == ["invoice.blocked", "approval.requested"]


def test_a_deal_in_another_pipeline_matches_no_rule(ev: Events) -> None:
    ev.rules(ONBOARD)
    ev.receive("deal.won", {**DEAL, "pipeline": "Sales"}, "d-1")
    ev.work()
    assert ev.count(ClientRow) == 0 and ev.event("billable", "d-1").status == "ignored"


def test_a_milestone_is_billed_and_issued_when_clean(ev: Events) -> None:
    ev.rules(ONBOARD)
    ev.receive("deal.won", DEAL, "d-1")
    ev.work()
    [first] = ev.invoices()
    workspace.update_settings(ev.db.uow(), ev.system, {"deviation_pct": "1000"})
    from domain.services import invoicing
    clients.update_client(ev.db.uow(), ev.system, first.client_id, {"address": ADDRESSES["DE"]})  # see above
    invoicing.issue_invoice(ev.db.uow(), ev.system, first.id)
    invoicing.approve_invoice(ev.db.uow(), ev.system, first.id)
    ev.receive("milestone.completed", {"milestone_ref": "jira:MIG-7", "name": "Go-live",
                                       "project_ref": "hubspot:company:9", "completed_on": "2026-04-01"}, "m-1")
    ev.work()
    second = ev.invoices()[1]
    assert second.status == "issued" and second.number is not None
    assert [ln.description for ln in second.lines] == ["Milestone: Go-live (completed 2026-04-01)"]
    assert ev.outbox_topics()[-1] == "invoice.issued"


def test_a_milestone_completed_after_its_project_closed_is_billed_but_held(ev: Events) -> None:
    ev.rules(ONBOARD)
    cid = ev.client("Acme", ref="acme")
    a = ev.arrangement(cid, kind="milestone", name="Migration",
                       milestones=[{"name": "Go-live", "amount": "8000.00"}])
    clients.close_arrangement(ev.db.uow(), ev.system, a.id)
    ev.receive("milestone.completed", {"milestone_ref": "jira:MIG-7", "name": "Go-live", "project_ref": "acme",
                                       "completed_on": "2026-03-31"}, "m-1")
    ev.work()
    [inv] = ev.invoices()
    assert inv.status in ("draft", "pending_approval")
    assert "project was closed" in ev.event("billable", "m-1").result["rules"][0]["invoices"][0]["held"]


def test_pilot_mode_drafts_and_holds_everything(ev: Events) -> None:
    ev.rules(ONBOARD)
    workspace.update_settings(ev.db.uow(), ev.system, {"pilot_mode": True, "deviation_pct": "1000"})
    ev.receive("deal.won", DEAL, "d-1")
    ev.receive("milestone.completed", {"milestone_ref": "jira:MIG-7", "name": "Go-live",
                                       "project_ref": "hubspot:company:9", "completed_on": "2026-04-01"}, "m-1")
    ev.work()
    assert [i.number for i in ev.invoices()] == [None, None]
    assert {i.status for i in ev.invoices()} <= {"draft", "pending_approval"}
    assert ev.outbox_topics() == []  # nothing sent in pilot mode


RETAINER = """
rules:
  - id: retainers
    on: period.due
    action: bill_period
    clean_draft: auto_issue
"""


def test_catch_up_after_a_three_month_outage_bills_each_missed_period_once(ev: Events) -> None:
    clock = ev.db.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime(2026, 1, 1, 8, 0, tzinfo=UTC))
    ev.rules(RETAINER)
    workspace.update_settings(ev.db.uow(), ev.system, {"deviation_pct": "1000"})
    cid = ev.client()
    ev.arrangement(cid, kind="retainer", name="Managed services", fee="4000.00", starts_on="2026-01-01")
    report = schedules.tick(ev.db.uow(), ev.system)
    assert report.emitted == [f"period:{_retainer(ev)}:2026-01-01..2026-01-31"]
    ev.work()
    [jan] = ev.invoices()
    from domain.services import invoicing
    invoicing.approve_invoice(ev.db.uow(), ev.system, jan.id)  # the first invoice needs an approver
    # the service is down from 2 January until 1 April: February, March and April are due
    clock.set(datetime(2026, 4, 1, 0, 1, tzinfo=UTC))
    assert len(schedules.tick(ev.db.uow(), ev.system).emitted) == 3
    ev.work()
    assert schedules.tick(ev.db.uow(), ev.system).emitted == []
    ev.work()
    invoices = ev.invoices()
    # each invoice bills what was due by its window's end: a past period whole, the current one up to today
    assert [(i.period_start, i.period_end) for i in invoices] == [
        (date(2026, m, 1), date(2026, m, last)) for m, last in ((1, 1), (2, 28), (3, 31), (4, 1))]
    assert all(len(i.lines) == 1 and i.lines[0].section == "retainer" for i in invoices)
    # identical retainers issued minutes apart look like duplicates to the checks: those wait for an approver
    assert invoices[1].status == "issued" and {i.status for i in invoices[2:]} <= {"issued", "pending_approval"}
    numbers = [i.number for i in invoices if i.number]
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, len(numbers) + 1)]
    # (January's approval is announced too, and the day's first tick queues the overdue digest: once)
    assert [m.topic for m in ev.sent].count("invoice.overdue_digest") <= 1
    billing = [m for m in ev.sent if m.topic not in ("approval.decided", "invoice.overdue_digest")]
    # each invoice once: issued (January by its approval, then the rule) or waiting for an approver
    assert sorted((m.payload["invoice_id"], m.topic) for m in billing) == sorted(
        [(invoices[0].id, "approval.requested"), (invoices[0].id, "invoice.issued")]
        + [(i.id, "invoice.issued" if i.number else "approval.requested") for i in invoices[1:]])
    vias = [m.payload["via"] for m in billing if m.topic == "invoice.issued"]
    assert vias[:1] == ["approval"] and set(vias[1:]) == {"rule"}
    assert [m.payload["decision"] for m in ev.sent if m.topic == "approval.decided"] == ["approved"]


def _retainer(ev: Events) -> int:
    with ev.db.uow() as uow:
        return uow.schedules.active_arrangements(["retainer"])[0].id


def test_a_contract_that_ended_bills_its_unbilled_work_and_closes(ev: Events) -> None:
    ev.rules("rules:\n  - {id: end, on: contract.ended, action: close_contract, clean_draft: hold_for_review}\n")
    cid = ev.client()
    tm = ev.arrangement(cid, kind="time_and_materials", default_rate="100.00", ends_on="2026-03-31")
    ev.receive("time.logged", {"entry_ref": "t1", "client_ref": "acme", "person": "kim", "role": "dev",
                               "date": "2026-03-20", "hours": "5"}, "t1")
    ev.work()
    schedules.tick(ev.db.uow(), ev.system)
    ev.work()
    [inv] = ev.invoices()
    assert isinstance(inv, InvoiceRow) and inv.total_minor == 5 * 100 * 119
    with ev.db.uow() as uow:
        row = uow.arrangements.get(tm.id)
        assert row is not None and row.active is False
    assert schedules.tick(ev.db.uow(), ev.system).emitted == []


def test_an_outbox_message_that_fails_is_retried_later_and_sent_once(ev: Events) -> None:
    clock = ev.db.clock
    assert isinstance(clock, FixedClock)
    ev.rules("rules:\n  - {id: end, on: contract.ended, action: close_contract, clean_draft: hold_for_review}\n")
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="100.00", ends_on="2026-03-31")
    ev.receive("time.logged", {"entry_ref": "t1", "client_ref": "acme", "person": "kim", "role": "dev",
                               "date": "2026-03-20", "hours": "5"}, "t1")
    schedules.tick(ev.db.uow(), ev.system)
    from domain.services import jobs
    while jobs.process_jobs(ev.db.uow(), "w"):
        pass

    def broken(_m: outbox.Message) -> None:
        raise ConnectionError("refused")

    assert outbox.dispatch_outbox(ev.db.uow(), broken) == 0
    got: list[outbox.Message] = []
    assert outbox.dispatch_outbox(ev.db.uow(), got.append) == 0  # backing off
    clock.set(clock.now() + timedelta(minutes=5))
    assert outbox.dispatch_outbox(ev.db.uow(), got.append) == 1
    assert outbox.dispatch_outbox(ev.db.uow(), got.append) == 0
    assert [m.attempt for m in got] == [2] and got[0].cause["rule_id"] == "end"


def test_pilot_mode_for_one_client_holds_only_that_client(ev: Events) -> None:
    from domain.services import invoicing, pilot

    ev.rules(ONBOARD)
    workspace.update_settings(ev.db.uow(), ev.system, {"deviation_pct": "1000"})
    ids = {}
    for ref in ("acme", "globex"):
        cid = ids[ref] = ev.client(ref.title(), ref=ref)
        tm = ev.arrangement(cid, kind="time_and_materials", default_rate="100.00")
        ev.arrangement(cid, kind="milestone", name="Rollout", milestones=[{"name": "Go-live", "amount": "900.00"}])
        from domain.services import work
        work.log_time(ev.db.uow(), ev.system, {"client_id": cid, "person": "kim", "role": "dev",
                                               "date": "2026-03-02", "hours": "1", "arrangement_id": tm.id})
        first = invoicing.draft_invoice(ev.db.uow(), ev.system, cid, date(2026, 3, 1), date(2026, 3, 31))
        invoicing.issue_invoice(ev.db.uow(), ev.system, first.id)
        invoicing.approve_invoice(ev.db.uow(), ev.system, first.id)
        if ref == "acme":
            assert pilot.set_client_pilot(ev.db.uow(), ev.system, cid, True) == {"client_id": cid, "pilot": True}
        ev.receive("milestone.completed", {"milestone_ref": f"jira:{ref}", "name": "Go-live", "project_ref": ref,
                                           "completed_on": "2026-04-01"}, f"m-{ref}")
    ev.work()
    latest = {i.client_id: i for i in ev.invoices()}  # each client's newest invoice
    acme, globex = latest[ids["acme"]], latest[ids["globex"]]
    assert acme.number is None and acme.status in ("draft", "pending_approval")
    assert globex.status == "issued" and globex.number is not None
    # each client's first invoice was approved by hand above (asked and decided); then only globex's is issued
    # (an approval issues through the same step as a rule: both say invoice.issued)
    assert [m.topic for m in ev.sent] == ["approval.requested", "approval.decided", "invoice.issued"] * 2 + [
        "invoice.issued"]

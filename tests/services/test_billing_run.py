"""A billing run (month-end): the same drafting and checks as one invoice at a time, for every client."""

from __future__ import annotations

from datetime import date

from domain.services import billing_run, invoicing

from .conftest import FEBRUARY, MARCH, World


def test_a_run_drafts_checks_and_issues_every_client(world: World) -> None:
    clean = world.retainer_client(name="Clean")
    world.issued(clean, FEBRUARY)                       # not its first invoice any more
    first = world.retainer_client(name="First")         # flagged: first invoice
    blocked = world.retainer_client(name="Blocked", po_required=True)
    world.client("Nothing Due")                         # no arrangements: nothing to bill
    drafted = world.retainer_client(name="Drafted")
    existing = world.draft(drafted)
    world.db.clock.set(world.db.clock.now().replace(day=9))   # past February's duplicate window
    report = world.call(billing_run.bill_period, world.system, *MARCH)
    assert (report.clients, report.drafted, report.issued, report.flagged, report.blocked, report.already_drafted,
            report.nothing_to_bill, report.failed) == (5, 3, 1, 1, 1, 1, 1, 0)
    by_client = {i.client_id: i for i in world.call(invoicing.list_invoices, world.system, period_start=MARCH[0])}
    assert by_client[clean].status == "issued" and by_client[clean].number == "INV-2026-000002"
    assert by_client[first].status == "pending_approval"
    assert by_client[blocked].status == "draft"
    assert by_client[drafted].id == existing.id
    assert world.audit_actions("invoice", by_client[blocked].id) == ["invoice.drafted", "invoice.blocked"]
    again = world.call(billing_run.bill_period, world.system, *MARCH)
    assert (again.drafted, again.issued, again.already_drafted, again.nothing_to_bill) == (0, 0, 3, 2)


def test_a_run_without_issuing_only_drafts(world: World) -> None:
    cid = world.retainer_client()
    report = world.call(billing_run.bill_period, world.system, *MARCH, issue=False)
    assert (report.drafted, report.issued) == (1, 0)
    (inv,) = world.call(invoicing.list_invoices, world.system, client_id=cid)
    assert inv.status == "draft"


def test_a_run_bills_the_same_lines_as_drafting_one_invoice(world: World) -> None:
    a = world.retainer_client(name="One by one")
    b = world.retainer_client(name="In a run")
    for cid in (a, b):
        world.arrangement(cid, "time_and_materials", default_rate="120.00")
        world.log(cid, date(2026, 3, 3), "2.5")
    one = world.draft(a)
    world.call(billing_run.bill_period, world.system, *MARCH, client_ids=[b], issue=False)
    (run,) = world.call(invoicing.list_invoices, world.system, client_id=b)
    run = world.call(invoicing.get_invoice, world.system, run.id)
    assert [(ln.section, ln.amount, ln.tax) for ln in run.lines] == [(ln.section, ln.amount, ln.tax)
                                                                       for ln in one.lines]
    assert run.total == one.total

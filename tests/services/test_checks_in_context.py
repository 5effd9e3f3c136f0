"""The checks, as a person meets them: blocked invoices are refused and unchanged, flagged ones wait for an
approver who is not the person who asked for them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.errors import CheckBlocked, Forbidden
from domain.services import clients, invoicing, workspace
from domain.services.views import InvoiceView

from .conftest import FEBRUARY, MARCH, World


def flags(inv: InvoiceView) -> set[str]:
    return {c["code"] for c in inv.checks if c["outcome"] == "flag"}


def seasoned_client(world: World, fee: str = "1000.00", **kw: object) -> int:
    """A client with a retainer and an issued February invoice, so March is not its first."""
    cid = world.retainer_client(fee, **kw)
    world.issued(cid, FEBRUARY)
    return cid


def test_a_clean_invoice_is_issued_straight_away(world: World) -> None:
    cid = seasoned_client(world)
    world.db.clock.set(datetime(2026, 4, 10, 9, 0, tzinfo=UTC))  # past the duplicate window
    inv = world.issued(cid)
    assert inv.number == "INV-2026-000002" and all(c["outcome"] == "pass" for c in inv.checks)
    assert world.audit_actions("invoice", inv.id) == ["invoice.drafted", "invoice.issued"]


def test_po_required_blocks_and_changes_nothing(world: World) -> None:
    cid = world.retainer_client(po_required=True)
    inv = world.draft(cid)
    before = world.snapshot()
    with pytest.raises(CheckBlocked) as e:
        world.call(invoicing.issue_invoice, world.system, inv.id)
    assert e.value.code == "check.blocked" and "PO" in e.value.message
    assert e.value.details["checks"] == [{"code": "po_required", "outcome": "block", "reason": e.value.details[
        "checks"][0]["reason"]}]
    assert world.snapshot() == before
    world.call(clients.update_client, world.system, cid, clients.ClientPatch(po_number="PO-4711"))
    issued = world.call(invoicing.issue_invoice, world.system, inv.id)
    assert issued.status == "pending_approval" and flags(issued) == {"first_invoice"}
    assert world.call(invoicing.approve_invoice, world.actor("finance"), inv.id).po_number == "PO-4711"


def test_missing_billing_email_is_flagged(world: World) -> None:
    cid = seasoned_client(world)
    world.call(clients.update_client, world.system, cid, clients.ClientPatch(billing_emails=[]))
    world.db.clock.set(datetime(2026, 4, 10, 9, 0, tzinfo=UTC))
    inv = world.call(invoicing.issue_invoice, world.system, world.draft(cid).id)
    assert inv.status == "pending_approval" and flags(inv) == {"billing_contact"}


def test_deviation_over_25_percent_from_the_previous_period_is_flagged(world: World) -> None:
    cid = seasoned_client(world)
    world.arrangement(cid, "time_and_materials", default_rate="100.00")
    world.log(cid, date(2026, 3, 5), "2.5")  # 1,000 + 250: +25% exactly is fine
    inv = world.call(invoicing.issue_invoice, world.system, world.draft(cid).id)
    assert "deviation" not in flags(inv)
    world.log(cid, date(2026, 4, 5), "3")   # 1,000 + 300 vs 1,250: +4%, fine; vs February's 1,000 it would be 30%
    world.db.clock.set(datetime(2026, 5, 2, 9, 0, tzinfo=UTC))
    apr = world.call(invoicing.issue_invoice, world.system, world.draft(cid, (date(2026, 4, 1), date(2026, 4, 30))).id)
    assert "deviation" not in flags(apr)
    world.log(cid, date(2026, 5, 5), "8")   # 1,800 vs 1,300: +38%
    may = world.call(invoicing.issue_invoice, world.system, world.draft(cid, (date(2026, 5, 1), date(2026, 5, 31))).id)
    assert may.status == "pending_approval" and flags(may) == {"deviation"}
    reason = next(c["reason"] for c in may.checks if c["code"] == "deviation")
    assert "38.5%" in reason


def test_duplicate_total_within_7_days_is_flagged(world: World) -> None:
    cid = seasoned_client(world)   # February issued today (1 April) for 1,190.00
    inv = world.call(invoicing.issue_invoice, world.system, world.draft(cid).id)
    assert inv.status == "pending_approval" and flags(inv) == {"duplicate"}
    assert "INV-2026-000001" in next(c["reason"] for c in inv.checks if c["code"] == "duplicate")
    world.call(invoicing.reject_invoice, world.actor("finance"), inv.id, "wait a week")
    world.db.clock.set(datetime(2026, 4, 1, 9, 0, tzinfo=UTC) + timedelta(days=8))
    later = world.call(invoicing.issue_invoice, world.system, inv.id)
    assert later.status == "issued" and later.number == "INV-2026-000002"


def test_over_the_workspace_approval_threshold_is_flagged(world: World) -> None:
    world.call(workspace.update_settings, world.actor("owner"), {"approval_thresholds": {"EUR": "1000.00"}})
    cid = seasoned_client(world, fee="2000.00")
    world.db.clock.set(datetime(2026, 4, 10, 9, 0, tzinfo=UTC))
    inv = world.call(invoicing.issue_invoice, world.system, world.draft(cid).id)
    assert inv.status == "pending_approval" and flags(inv) == {"threshold"}


def test_manual_line_is_flagged_and_its_author_cannot_approve(world: World) -> None:
    cid = seasoned_client(world)
    world.db.clock.set(datetime(2026, 4, 10, 9, 0, tzinfo=UTC))
    finance, finance2 = world.actor("finance"), world.actor("finance2")
    inv = world.draft(cid)   # drafted by the system: nobody requested it by hand
    edited = world.call(invoicing.add_manual_line, finance, inv.id, "Extra workshop", "1", "100.00")
    manual = [ln for ln in edited.lines if ln.manual]
    assert len(manual) == 1 and manual[0].amount == "100.00" and manual[0].source["by"] == finance.email
    assert edited.total == "1309.00"
    flagged = world.call(invoicing.issue_invoice, world.system, inv.id)
    assert flagged.status == "pending_approval" and flags(flagged) == {"manual_lines"}
    before = world.snapshot()
    with pytest.raises(Forbidden) as e:
        world.call(invoicing.approve_invoice, finance, inv.id)
    assert e.value.code == "approval.own_request"
    assert world.snapshot() == before
    assert world.call(invoicing.approve_invoice, finance2, inv.id).status == "issued"


def test_the_requester_cannot_approve(world: World) -> None:
    cid = seasoned_client(world)
    world.db.clock.set(datetime(2026, 4, 10, 9, 0, tzinfo=UTC))
    am, finance, finance2 = world.actor("account_manager"), world.actor("finance"), world.actor("finance2")
    inv = world.call(invoicing.draft_invoice, finance, cid, *MARCH)
    world.call(invoicing.add_manual_line, finance2, inv.id, "Licence true-up", "2", "10.00")
    world.call(invoicing.issue_invoice, finance, inv.id)
    for who in (finance, finance2):  # the one who drafted it and the one who edited it
        with pytest.raises(Forbidden) as e:
            world.call(invoicing.approve_invoice, who, inv.id)
        assert e.value.code == "approval.own_request"
    with pytest.raises(Forbidden):
        world.call(invoicing.approve_invoice, am, inv.id)   # account managers never approve
    owner = world.actor("owner")
    assert world.call(invoicing.approve_invoice, owner, inv.id).status == "issued"


def test_reject_sends_back_to_draft_with_the_reason(world: World) -> None:
    cid = world.retainer_client()
    inv = world.call(invoicing.issue_invoice, world.system, world.draft(cid).id)
    rejected = world.call(invoicing.reject_invoice, world.actor("finance"), inv.id, "  wrong period  ")
    assert (rejected.status, rejected.reason, rejected.number) == ("draft", "wrong period", None)
    assert world.audit_actions("invoice", inv.id)[-1] == "invoice.rejected"

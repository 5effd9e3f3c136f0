"""The agent's reads as use cases: an invoice's story, its explanation against the previous period, the work not
billed yet, finding clients. On SQLite and PostgreSQL; roles and account-manager scope enforced."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.errors import Forbidden, NotFound
from domain.services import insights, invoicing, work
from tests.services.conftest import FEBRUARY, MARCH, World


def _tm_client(world: World, name: str = "Globex Ltd") -> int:
    c = world.client(name)
    world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01", name="Managed services")
    world.arrangement(c.id, "time_and_materials", default_rate="100.00", name="Projects")
    return c.id


def test_invoice_story_tells_who_when_why_with_seqs(world: World) -> None:
    cid = _tm_client(world)
    world.log(cid, date(2026, 3, 3), "2")
    inv = world.issued(cid)  # flagged (first invoice), approved by finance
    story = world.call(insights.invoice_story, world.actor("viewer"), inv.number)
    assert story.invoice.id == inv.id and story.invoice.status == "issued"
    actions = [e.action for e in story.timeline]
    assert actions == ["invoice.drafted", "invoice.flagged", "invoice.approved", "invoice.issued"]
    seqs = [e.seq for e in story.timeline]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    flagged = story.timeline[1]
    assert "first" in flagged.why.lower()  # the first-invoice check, as the audit entry holds it
    assert story.timeline[2].who == "fin@books.example"
    assert f"numbered {inv.number}" in story.timeline[3].why
    # by id too, and "#id"
    assert world.call(insights.invoice_story, world.actor("owner"), str(inv.id)).invoice.number == inv.number
    assert world.call(insights.invoice_story, world.actor("owner"), f"#{inv.id}").invoice.id == inv.id


def test_invoice_story_includes_credit_notes_and_payments(world: World) -> None:
    cid = _tm_client(world)
    inv = world.issued(cid)
    fin = world.actor("finance")
    world.call(invoicing.record_payment, fin, inv.id, "100.00", date(2026, 4, 1), reference="bank")
    world.call(invoicing.create_credit_note, fin, inv.id, "goodwill", "50.00")
    story = world.call(insights.invoice_story, fin, inv.number)
    actions = [e.action for e in story.timeline]
    assert actions[-3:] == ["invoice.payment_recorded", "credit_note.issued", "invoice.credited"]
    assert "amount 100.00 received 2026-04-01" in story.timeline[-3].why
    assert "reason: goodwill" in story.timeline[-2].why


def test_unknown_and_out_of_scope_invoices_are_not_found(world: World) -> None:
    cid = _tm_client(world)
    inv = world.issued(cid)
    with pytest.raises(NotFound):
        world.call(insights.invoice_story, world.actor("owner"), "INV-1999-000001")
    with pytest.raises(NotFound):  # the account manager does not manage Globex
        world.call(insights.invoice_story, world.actor("account_manager"), inv.number)
    with pytest.raises(Forbidden):
        world.call(insights.invoice_story, world.actor("contractor"), inv.number)


def test_explain_compares_with_the_previous_period_part_by_part(world: World) -> None:
    cid = _tm_client(world)
    world.log(cid, date(2026, 2, 10), "10")
    feb = world.issued(cid, FEBRUARY)
    world.log(cid, date(2026, 3, 10), "12")
    world.log(cid, date(2026, 3, 11), "13")
    draft = world.draft(cid, MARCH)
    mar = world.call(invoicing.add_manual_line, world.actor("finance"), draft.id, "Emergency call-out", "1", "300.00")
    why = world.call(insights.explain_invoice, world.actor("viewer"), mar.id)
    assert why.previous is not None and why.previous.number == feb.number
    # 1000 + 10 h x 100 = 2000 net (2380 gross) then 1000 + 2500 + 300 = 3800 net (4522 gross)
    assert why.total_change == "+2142.00"
    by_label = {c.label: c for c in why.changes}
    time = by_label["time (Projects)"]
    assert (time.previous, time.current, time.change) == ("1000.00", "2500.00", "+1500.00")
    assert (time.previous_hours, time.current_hours) == ("10.00", "25.00")
    assert by_label["manual lines"].change == "+300.00"
    assert "retainer (Managed services)" not in by_label  # unchanged parts are not listed
    assert why.changes[0].label == "time (Projects)"  # biggest change first
    assert any(r.action == "invoice.line_added" and "Emergency call-out" in r.why for r in why.reasons)
    sources = {ln.description: ln.source for ln in why.lines}
    assert any("2 time entries" in s for s in sources.values())
    assert sources["Emergency call-out"] == "added by hand by fin@books.example"


def test_explain_without_a_previous_invoice(world: World) -> None:
    cid = _tm_client(world)
    why = world.call(insights.explain_invoice, world.actor("owner"), world.draft(cid).id)
    assert why.previous is None and why.total_change is None and why.changes == []
    assert [r.action for r in why.reasons] == ["invoice.drafted"]


def test_unbilled_work_lists_what_no_invoice_bills(world: World) -> None:
    cid = _tm_client(world)
    world.log(cid, date(2026, 2, 10), "3", description="billed in February")
    world.issued(cid, FEBRUARY)
    world.log(cid, date(2026, 3, 2), "2.5", description="VPN migration")
    world.log(cid, date(2026, 3, 3), "1", description="Patching")
    out = world.call(insights.unbilled_work, world.actor("finance"), cid)
    assert out.client.name == "Globex Ltd" and out.hours == "3.50"
    assert [(t.description, t.hours) for t in out.time_entries] == [("VPN migration", "2.50"), ("Patching", "1.00")]
    assert out.expenses == [] and out.milestones == [] and out.sla_breaches == []
    assert world.call(insights.unbilled_work, world.actor("finance"), cid, date(2026, 3, 2)).hours == "2.50"


def test_unbilled_work_includes_milestones_and_expenses(world: World) -> None:
    c = world.client("Initech")
    ms = world.arrangement(c.id, "milestone", milestones=[{"name": "Go-live", "amount": "8000.00"}])
    pt = world.arrangement(c.id, "pass_through", markup_pct="10")
    world.call(work.complete_milestone, world.system, ms.milestones[0].id, date(2026, 3, 20))
    world.call(work.record_expense, world.system, work.ExpenseIn(client_id=c.id, arrangement_id=pt.id,
                                                                 date=date(2026, 3, 5), description="Switch",
                                                                 cost="500.00"))
    out = world.call(insights.unbilled_work, world.actor("owner"), c.id)
    assert [(m["name"], m["amount"]) for m in out.milestones] == [("Go-live", "8000.00")]
    assert [(e["description"], e["cost"]) for e in out.expenses] == [("Switch", "500.00")]
    assert Decimal(out.hours) == 0


def test_unbilled_work_respects_roles_and_scope(world: World) -> None:
    cid = _tm_client(world)
    with pytest.raises(NotFound):
        world.call(insights.unbilled_work, world.actor("account_manager"), cid)
    with pytest.raises(Forbidden):
        world.call(insights.unbilled_work, world.actor("contractor"), cid)


def test_find_clients_by_name_for_readers_and_people_who_log_time(world: World) -> None:
    a = world.client("Acme GmbH")
    world.client("Acme Holdings")
    world.client("Globex Ltd")
    assert [c.name for c in world.call(insights.find_clients, world.actor("viewer"), "acme")] == [
        "Acme GmbH", "Acme Holdings"]
    # contractors may look clients up to log time against them
    assert [c.id for c in world.call(insights.find_clients, world.actor("contractor"), "acme gmbh")] == [a.id]
    # account managers see only their clients
    assert world.call(insights.find_clients, world.actor("account_manager"), "acme") == []
    assert len(world.call(insights.find_clients, world.actor("owner"))) == 3

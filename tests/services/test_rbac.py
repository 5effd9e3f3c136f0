"""Who may do what: every role against every service function, table-driven. A refused call says who can
and changes nothing; account managers see only their clients; contractors only their own time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from domain.errors import BillingError, Forbidden, NotFound
from domain.model.roles import Actor
from domain.services import (
    audit,
    billing_run,
    clients,
    contracts,
    imports,
    invoicing,
    parties,
    snapshots,
    users,
    work,
    workspace,
)
from tests.support.rbac import ROLES, public_services

from .conftest import EMAILS, MARCH, World


def month(n: int) -> tuple[date, date]:
    """The n-th month of 2025 as a drafting window."""
    nxt = date(2025 + n // 12, n % 12 + 1, 1)
    return date(2025, n, 1), date.fromordinal(nxt.toordinal() - 1)


@dataclass
class Stage:
    """Objects for each call to act on, so that one allowed call never spoils the next."""

    client: int
    to_end: int
    milestone: int
    pass_through: int
    sla: int
    invoices: dict[str, int]
    invoice_number: str
    spare: int = 0          # a client to archive and reactivate
    subscription: int = 0   # to amend, end and reopen
    proposal: int = 0       # an account manager's amendment waiting for finance
    to_cancel: int = 0      # a milestone to cancel
    credit: int = 0         # an ended arrangement's proposed credit


def stage(world: World) -> Stage:
    am = world.user_ids["account_manager"]
    c = world.client("Initech", account_manager_ids=[am]).id
    world.arrangement(c, "retainer", fee="1000.00", starts_on="2025-01-01")
    world.arrangement(c, "time_and_materials", default_rate="100.00")
    to_end = world.arrangement(c, "time_and_materials", default_rate="90.00", name="Old rates").id
    ms = world.arrangement(c, "milestone", milestones=[{"name": "Phase 1", "amount": "500.00"}])
    pt = world.arrangement(c, "pass_through", markup_pct="5").id
    sla = world.arrangement(c, "sla_credit", credit_pct="5").id
    inv: dict[str, int] = {}
    for n, name in enumerate(["manual_line", "discard", "issue", "approve", "reject"], start=1):
        inv[name] = world.draft(c, month(n)).id
    for name in ("approve", "reject"):
        assert world.call(invoicing.issue_invoice, world.system, inv[name]).status == "pending_approval"
    for n, name in enumerate(["void", "uncollectible", "payment", "credit"], start=6):
        inv[name] = world.issued(c, month(n)).id
    number = world.call(invoicing.get_invoice, world.system, inv["void"]).number
    assert number is not None
    spare = world.client("Spare Ltd", account_manager_ids=[am]).id
    sub = world.arrangement(c, "subscription", product="EDR", seats=10, unit_price="5.00",
                            starts_on="2025-01-01").id
    proposal = world.call(contracts.amend_arrangement, world.actor("account_manager"), c, sub,
                          {"effective_on": "2025-02-01", "terms": {"seats": 11}}).version
    assert proposal is not None and proposal.id is not None
    cancel = world.arrangement(c, "milestone", milestones=[{"name": "Phase 9", "amount": "90.00"}])
    leaver = world.client("Leaver Ltd", account_manager_ids=[am]).id
    ret = world.arrangement(leaver, "retainer", fee="3100.00", starts_on="2025-01-01").id
    world.issued(leaver, month(1))
    ended = world.call(contracts.end_arrangement, world.system, leaver, ret, {"ends_on": "2025-01-15"})
    return Stage(c, to_end, ms.milestones[0].id, pt, sla, inv, number, spare, sub, proposal.id,
                 cancel.milestones[0].id, ended.preview.adjustments[0].id or 0)


Op = Callable[[World, Actor, Stage], Any]

# Who may call what: O owner, F finance, A account manager (on their own client), C contractor, V viewer.
MATRIX: list[tuple[str, str, Op]] = [
    ("create_client", "OF", lambda w, a, s: w.call(clients.create_client, a, clients.ClientIn(
        name=f"New {a.role}", currency="EUR"))),
    ("update_client", "OF", lambda w, a, s: w.call(clients.update_client, a, s.client,
                                                   clients.ClientPatch(payment_terms_days=14))),
    ("get_client", "OFAV", lambda w, a, s: w.call(clients.get_client, a, s.client)),
    ("list_clients", "OFAV", lambda w, a, s: w.call(clients.list_clients, a)),
    ("add_arrangement", "OF", lambda w, a, s: w.call(clients.add_arrangement, a, s.client,
                                                     {"kind": "pass_through", "markup_pct": "3"})),
    ("list_arrangements", "OFAV", lambda w, a, s: w.call(clients.list_arrangements, a, s.client)),
    ("close_arrangement", "OF", lambda w, a, s: w.call(clients.close_arrangement, a, s.to_end)),
    ("archive_client", "OF", lambda w, a, s: w.call(clients.archive_client, a, s.spare, "left")),
    ("reactivate_client", "OF", lambda w, a, s: w.call(clients.reactivate_client, a, s.spare)),
    ("amend_arrangement", "OFA", lambda w, a, s: w.call(contracts.amend_arrangement, a, s.client, s.subscription,
                                                        {"effective_on": "2025-03-10", "terms": {"seats": 12}})),
    ("decide_amendment", "OF", lambda w, a, s: w.call(contracts.decide_amendment, a, s.proposal, True)),
    ("list_proposals", "OFAV", lambda w, a, s: w.call(contracts.list_proposals, a)),
    ("preview_arrangement", "OF", lambda w, a, s: w.call(contracts.preview_arrangement, a, s.client, {
        "kind": "retainer", "fee": "100.00", "starts_on": "2025-01-01"})),
    ("list_versions", "OFAV", lambda w, a, s: w.call(contracts.list_versions, a, s.client, s.subscription)),
    ("client_contracts", "OFAV", lambda w, a, s: w.call(contracts.client_contracts, a, s.client)),
    ("end_arrangement", "OF", lambda w, a, s: w.call(contracts.end_arrangement, a, s.client, s.subscription,
                                                     {"ends_on": "2025-06-30"})),
    ("reopen_arrangement", "OF", lambda w, a, s: w.call(contracts.reopen_arrangement, a, s.client, s.subscription,
                                                        {"reopens_on": "2025-08-01"})),
    ("credit_proposed", "OF", lambda w, a, s: w.call(contracts.credit_proposed, a, s.credit)),
    ("cancel_milestone", "OF", lambda w, a, s: w.call(contracts.cancel_milestone, a, s.to_cancel, "dropped")),
    ("log_time", "OFAC", lambda w, a, s: w.call(work.log_time, a, work.TimeEntryIn(
        client_id=s.client, person=a.email or "", role="engineer", date=date(2026, 3, 2), hours="1.5"))),
    ("list_time_entries", "OFACV", lambda w, a, s: w.call(work.list_time_entries, a)),
    ("record_expense", "OFA", lambda w, a, s: w.call(work.record_expense, a, work.ExpenseIn(
        client_id=s.client, arrangement_id=s.pass_through, date=date(2026, 3, 2), description="SSD",
        cost="80.00"))),
    ("complete_milestone", "OFA", lambda w, a, s: w.call(work.complete_milestone, a, s.milestone,
                                                         date(2026, 3, 3))),
    ("record_breach", "OFA", lambda w, a, s: w.call(work.record_breach, a, work.BreachIn(
        client_id=s.client, arrangement_id=s.sla, occurred_on=date(2026, 3, 4), description="outage"))),
    ("draft_invoice", "OFA", lambda w, a, s: w.call(invoicing.draft_invoice, a, s.client, *month(10))),
    ("preview_draft", "OFA", lambda w, a, s: w.call(invoicing.preview_draft, a, s.client, *month(10))),
    ("preview_manual_line", "OFA", lambda w, a, s: w.call(invoicing.preview_manual_line, a,
                                                          s.invoices["manual_line"], "Setup", "1", "50.00")),
    ("preview_time", "OFAC", lambda w, a, s: w.call(work.preview_time, a, work.TimeEntryIn(
        client_id=s.client, person=a.email or "", role="engineer", date=date(2026, 3, 2), hours="1.5"))),
    ("get_milestone", "OFA", lambda w, a, s: w.call(work.get_milestone, a, s.milestone)),
    ("add_manual_line", "OFA", lambda w, a, s: w.call(invoicing.add_manual_line, a, s.invoices["manual_line"],
                                                      "Setup", "1", "50.00")),
    ("discard_draft", "OFA", lambda w, a, s: w.call(invoicing.discard_draft, a, s.invoices["discard"])),
    ("issue_invoice", "OF", lambda w, a, s: w.call(invoicing.issue_invoice, a, s.invoices["issue"])),
    ("approve_invoice", "OF", lambda w, a, s: w.call(invoicing.approve_invoice, a, s.invoices["approve"])),
    ("reject_invoice", "OF", lambda w, a, s: w.call(invoicing.reject_invoice, a, s.invoices["reject"], "no")),
    ("void_invoice", "OF", lambda w, a, s: w.call(invoicing.void_invoice, a, s.invoices["void"], "mistake")),
    ("mark_uncollectible", "OF", lambda w, a, s: w.call(invoicing.mark_uncollectible, a,
                                                        s.invoices["uncollectible"], "insolvent")),
    ("record_payment", "OF", lambda w, a, s: w.call(invoicing.record_payment, a, s.invoices["payment"], "10.00",
                                                    date(2026, 4, 2))),
    ("create_credit_note", "OF", lambda w, a, s: w.call(invoicing.create_credit_note, a, s.invoices["credit"],
                                                        "goodwill", "10.00")),
    ("get_invoice", "OFAV", lambda w, a, s: w.call(invoicing.get_invoice, a, s.invoices["payment"])),
    ("find_invoice", "OFAV", lambda w, a, s: w.call(invoicing.find_invoice, a, s.invoice_number)),
    ("list_invoices", "OFAV", lambda w, a, s: w.call(invoicing.list_invoices, a)),
    ("bill_period", "OF", lambda w, a, s: w.call(billing_run.bill_period, a, *month(11))),
    ("audit_history", "OFAV", lambda w, a, s: w.call(audit.audit_history, a)),
    ("verify_chain", "OFAV", lambda w, a, s: w.call(audit.verify_chain, a)),
    ("add_user", "O", lambda w, a, s: w.call(users.add_user, a, users.UserIn(email="newbie@x.example",
                                                                            role="viewer"))),
    ("rotate_token", "O", lambda w, a, s: w.call(users.rotate_token, a, EMAILS["viewer"])),
    ("set_active", "O", lambda w, a, s: w.call(users.set_active, a, EMAILS["contractor2"], False)),
    ("list_users", "O", lambda w, a, s: w.call(users.list_users, a)),
    ("get_settings", "OFAV", lambda w, a, s: w.call(workspace.get_settings, a)),
    ("update_settings", "OF", lambda w, a, s: w.call(workspace.update_settings, a, {"deviation_pct": "30"})),
    ("get_seller", "OFAV", lambda w, a, s: w.call(parties.get_seller, a)),
    # the seller's legal identity and the account payments go to: owners only
    ("update_seller", "O", lambda w, a, s: w.call(parties.update_seller, a, {"registration": "HRB 1"})),
    # freezing what old invoices say, from today's seller details: owners only, like the seller itself
    ("backfill_snapshots", "O", lambda w, a, s: w.call(snapshots.backfill_snapshots, a)),
    # a whole book at once: owners and finance, like creating clients and arrangements one by one
    ("import_book", "OF", lambda w, a, s: w.call(imports.import_book, a, {
        "clients": "external_id,name,currency\nC-1,Imported Ltd,EUR\n"}, False)),
]



def test_the_matrix_names_every_public_service_function() -> None:
    assert public_services(audit, billing_run, clients, contracts, imports, invoicing, parties, snapshots, users,
                           work, workspace) == {name for name, _, _ in MATRIX}


@pytest.mark.parametrize("letter", list(ROLES), ids=list(ROLES.values()))
def test_every_role_against_every_service(world: World, letter: str) -> None:
    s = stage(world)
    actor = world.actor(ROLES[letter])
    wrong: list[str] = []
    for name, allowed, op in MATRIX:
        before = world.snapshot()
        try:
            op(world, actor, s)
        except Forbidden as e:
            if letter in allowed:
                wrong.append(f"{name}: refused but should be allowed ({e.code}: {e.message})")
            else:
                if e.code != "auth.forbidden" or "only" not in e.message:
                    wrong.append(f"{name}: refused without saying who can ({e.code}: {e.message})")
                if world.snapshot() != before:
                    wrong.append(f"{name}: refused but the database changed")
        else:
            if letter not in allowed:
                wrong.append(f"{name}: allowed but should be refused")
    assert wrong == []


def test_account_managers_see_and_act_only_on_their_own_clients(world: World) -> None:
    amy = world.user_ids["account_manager"]
    mine = world.client("Mine", account_manager_ids=[amy])
    other = world.client("Not mine", account_manager_ids=[world.user_ids["account_manager2"]])
    for c in (mine, other):
        world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2025-01-01")
        world.arrangement(c.id, "time_and_materials", default_rate="100.00")
        world.log(c.id, date(2026, 3, 2), "1")
    ms = world.arrangement(other.id, "milestone", milestones=[{"name": "X", "amount": "1.00"}]).milestones[0].id
    pt = world.arrangement(other.id, "pass_through").id
    theirs = world.draft(other.id)
    am = world.actor("account_manager")
    assert am.client_ids == frozenset({mine.id})
    assert [c.id for c in world.call(clients.list_clients, am)] == [mine.id]
    assert {e.client_id for e in world.call(work.list_time_entries, am)} == {mine.id}
    own = world.call(invoicing.draft_invoice, am, mine.id, *MARCH)
    assert [i.id for i in world.call(invoicing.list_invoices, am)] == [own.id]
    assert world.call(invoicing.list_invoices, am, client_id=other.id) == []
    refused: list[tuple[str, Callable[[], Any]]] = [
        ("get_client", lambda: world.call(clients.get_client, am, other.id)),
        ("list_arrangements", lambda: world.call(clients.list_arrangements, am, other.id)),
        ("draft_invoice", lambda: world.call(invoicing.draft_invoice, am, other.id, *MARCH)),
        ("get_invoice", lambda: world.call(invoicing.get_invoice, am, theirs.id)),
        ("add_manual_line", lambda: world.call(invoicing.add_manual_line, am, theirs.id, "x", "1", "1.00")),
        ("discard_draft", lambda: world.call(invoicing.discard_draft, am, theirs.id)),
        ("log_time", lambda: world.log(other.id, date(2026, 3, 3), "1", person=EMAILS["account_manager"],
                                       actor=am)),
        ("record_expense", lambda: world.call(work.record_expense, am, work.ExpenseIn(
            client_id=other.id, arrangement_id=pt, date=date(2026, 3, 2), description="x", cost="1.00"))),
        ("complete_milestone", lambda: world.call(work.complete_milestone, am, ms)),
    ]
    before = world.snapshot()
    for name, call in refused:
        with pytest.raises(NotFound) as e:   # not "forbidden": another client's existence is not leaked
            call()
        assert e.value.status == 404, name
    assert world.snapshot() == before
    my_ms = world.arrangement(mine.id, "milestone", milestones=[{"name": "Y", "amount": "1.00"}]).milestones[0].id
    world.call(work.complete_milestone, am, my_ms)
    world.call(clients.close_arrangement, world.system, world.arrangement(mine.id, "pass_through").id)
    history = world.call(audit.audit_history, am, None, None, 1000)
    assert {"milestone.completed", "arrangement.closed", "time.logged", "invoice.drafted"} <= {
        e.action for e in history}   # what happens on their clients, they can read
    assert history and all((e.after or e.before or {}).get("client_id", mine.id) == mine.id for e in history)
    assert not any(e.subject_type == "client" and e.subject_id == str(other.id) for e in history)
    run = world.call(billing_run.bill_period, am, *MARCH, issue=False)
    assert run.clients == 1   # an account manager's billing run covers their own clients only


def test_contractors_log_only_their_own_time_and_see_only_their_own_entries(world: World) -> None:
    c = world.client("Contracted")
    world.log(c.id, date(2026, 3, 2), "3", person=EMAILS["contractor2"])   # logged for cleo by the system
    carl = world.actor("contractor")
    mine = world.log(c.id, date(2026, 3, 3), "2", person="", actor=carl)   # person defaults to the actor
    assert mine.person == EMAILS["contractor"] and mine.user_id == world.user_ids["contractor"]
    before = world.snapshot()
    with pytest.raises(Forbidden) as e:
        world.log(c.id, date(2026, 3, 3), "2", person=EMAILS["contractor2"], actor=carl)
    assert e.value.field == "person"
    assert world.snapshot() == before
    assert [t.id for t in world.call(work.list_time_entries, carl)] == [mine.id]
    assert [t.id for t in world.call(work.list_time_entries, carl, client_id=c.id)] == [mine.id]
    cleo = world.actor("contractor2")
    assert [t.person for t in world.call(work.list_time_entries, cleo)] == [EMAILS["contractor2"]]
    with pytest.raises(Forbidden):
        world.call(clients.get_client, carl, c.id)


def test_an_agent_acts_with_the_persons_role_and_is_recorded_as_the_agent(world: World) -> None:
    viewer = world.actor("viewer").via_agent()
    with pytest.raises(Forbidden):
        world.call(clients.create_client, viewer, clients.ClientIn(name="Agent Co", currency="EUR"))
    finance = world.actor("finance").via_agent()
    c = world.call(clients.create_client, finance, clients.ClientIn(name="Agent Co", currency="EUR"))
    (entry,) = [e for e in world.call(audit.audit_history, world.system, "client", str(c.id))]
    assert (entry.actor_kind, entry.actor, entry.actor_id) == ("agent", f"agent for {EMAILS['finance']}",
                                                               world.user_ids["finance"])


def test_a_deactivated_user_cannot_act(world: World) -> None:
    world.call(users.set_active, world.actor("owner"), EMAILS["finance2"], False)
    with pytest.raises(Exception) as e:
        world.actor("finance2")
    assert getattr(e.value, "code", "") == "user.not_found"


def test_an_account_managers_audit_page_is_full_of_their_own_entries(world: World) -> None:
    theirs = world.client("Busy Other", account_manager_ids=[world.user_ids["account_manager2"]])
    for d in range(1, 16):
        world.log(theirs.id, date(2026, 3, d), "1")
    mine = world.client("Quiet Mine", account_manager_ids=[world.user_ids["account_manager"]])
    for d in range(1, 6):
        world.log(mine.id, date(2026, 3, d), "1")
    am = world.actor("account_manager")
    page = world.call(audit.audit_history, am, None, None, 4)
    assert [e.action for e in page] == ["client.created"] + ["time.logged"] * 3
    rest = world.call(audit.audit_history, am, None, None, 100, page[-1].seq)
    assert len(rest) == 2 and all(e.seq > page[-1].seq for e in rest)


def test_the_last_active_owner_cannot_be_deactivated(world: World) -> None:
    owner = world.actor("owner")
    before = world.snapshot()
    with pytest.raises(BillingError) as e:
        world.call(users.set_active, owner, EMAILS["owner"], False)
    assert e.value.code == "user.last_owner"
    assert world.snapshot() == before
    world.call(users.add_user, owner, {"email": "second@owner.example", "role": "owner"})
    assert world.call(users.set_active, owner, EMAILS["owner"], False).active is False


def test_an_account_managers_pilot_report_holds_only_their_own_clients(world: World) -> None:
    from domain.services import pilot

    mine = world.client("Mine Pilot", account_manager_ids=[world.user_ids["account_manager"]])
    other = world.client("Secret Other", account_manager_ids=[world.user_ids["account_manager2"]])
    for c in (mine, other):
        world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2025-01-01")
        world.draft(c.id, MARCH)
    rows = [{"client": "Mine Pilot", "amount": "1000.00"}, {"client": "Secret Other", "amount": "999.00"},
            {"client": str(other.id), "amount": "5.00"}]
    report = world.call(pilot.pilot_report, world.actor("account_manager"), *MARCH, rows)
    seen = {c.client for c in report.clients} | {ln.client for ln in report.lines}
    assert seen == {"Mine Pilot"}
    assert set(report.unknown_clients) == {"Secret Other", str(other.id)}   # like a client that does not exist
    full = world.call(pilot.pilot_report, world.actor("owner"), *MARCH, rows)
    assert {c.client for c in full.clients} == {"Mine Pilot", "Secret Other"}

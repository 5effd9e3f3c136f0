"""A client's contracts as its dashboard page reads them (issue 17): `contracts.client_contracts` says what the
per-arrangement services say (arrangements, versions, adjustments, audit history, proposals), for every role that
sees the client, with a number of statements that does not grow with the arrangements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from domain.services import audit, clients, contracts
from tests.services.conftest import MARCH, World


@contextmanager
def _statements(world: World) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(world.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(world.db.engine, "before_cursor_execute", count)


def _rich_client(world: World, name: str) -> int:
    """Six arrangements of every kind, amendments (one dated back over an issued month), a proposal pending."""
    c = world.client(name, account_manager_ids=[world.user_ids["account_manager"]])
    retainer = world.arrangement(c.id, "retainer", fee="1000.00", starts_on="2026-01-01")
    world.arrangement(c.id, "time_and_materials", default_rate="100.00", starts_on="2026-01-01")
    sub = world.arrangement(c.id, "subscription", product="EDR", seats=10, unit_price="5.00", starts_on="2026-01-01")
    world.arrangement(c.id, "milestone", milestones=[{"name": "Design", "amount": "800.00"},
                                                     {"name": "Build", "amount": "1200.00"}])
    world.arrangement(c.id, "pass_through", markup_pct="12", starts_on="2026-01-01")
    world.arrangement(c.id, "sla_credit", credit_pct="10", retainer_arrangement_id=retainer.id)
    world.issued(c.id, MARCH)
    finance = world.actor("finance")
    world.call(contracts.amend_arrangement, finance, c.id, retainer.id,
               {"effective_on": "2026-03-01", "terms": {"fee": "1100.00"}})
    world.call(contracts.amend_arrangement, finance, c.id, sub.id,
               {"effective_on": "2026-04-10", "terms": {"seats": 12}})
    world.call(contracts.amend_arrangement, world.actor("account_manager"), c.id, sub.id,
               {"effective_on": "2026-05-01", "terms": {"seats": 14}})
    return c.id


def test_it_says_what_the_services_of_each_arrangement_say(world: World) -> None:
    cid = _rich_client(world, "Rich Ltd")
    for who in ("owner", "finance", "account_manager", "viewer"):
        actor = world.actor(who)
        got = world.call(contracts.client_contracts, actor, cid)
        arrangements = world.call(clients.list_arrangements, actor, cid)
        assert [d.arrangement for d in got.arrangements] == arrangements
        for d in got.arrangements:
            vv = world.call(contracts.list_versions, actor, cid, d.arrangement.id)
            assert (d.versions, d.adjustments) == (vv.versions, vv.adjustments)
            assert d.history == world.call(audit.audit_history, actor, "arrangement", str(d.arrangement.id), 100)
        mine = {a.id for a in arrangements}
        assert got.proposals == [p for p in world.call(contracts.list_proposals, actor) if p.arrangement_id in mine]
    # what it covers is there to compare: adjustments, several versions, a proposal, a long history
    details = world.call(contracts.client_contracts, world.actor("owner"), cid)
    assert any(d.adjustments for d in details.arrangements) and len(details.proposals) == 1
    assert max(len(d.versions) for d in details.arrangements) == 3


def test_its_history_is_the_first_entries_of_each_arrangement(world: World) -> None:
    cid = _rich_client(world, "Paged Ltd")
    owner = world.actor("owner")
    for limit in (1, 2):
        got = world.call(contracts.client_contracts, owner, cid, limit)
        for d in got.arrangements:
            assert d.history == world.call(audit.audit_history, owner, "arrangement", str(d.arrangement.id), limit)
            assert 1 <= len(d.history) <= limit


def test_its_statements_do_not_grow_with_the_arrangements(world: World) -> None:
    rich = _rich_client(world, "Rich Ltd")
    richer = _rich_client(world, "Richer Ltd")
    for k in range(4):  # four more of them, each with versions, milestones and history
        more = world.arrangement(richer, "retainer", fee="500.00", starts_on="2026-01-01", name=f"Extra {k}")
        world.call(contracts.amend_arrangement, world.actor("finance"), richer, more.id,
                   {"effective_on": "2026-04-01", "terms": {"fee": "600.00"}})
        world.arrangement(richer, "milestone", name=f"Project {k}", milestones=[{"name": "Go", "amount": "10.00"}])
    for who in ("owner", "account_manager"):
        actor = world.actor(who)
        counts = []
        for cid in (rich, richer):
            with _statements(world) as seen:
                got = world.call(contracts.client_contracts, actor, cid)
            counts.append((len(got.arrangements), len(seen)))
        assert counts[0][0] < counts[1][0] and counts[0][1] == counts[1][1], (who, counts)

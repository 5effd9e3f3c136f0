"""Who may do what with the accounting sync: every role against every public service function of
domain.services.accounting, table-driven like tests/services/test_rbac.py. Only owners connect and disconnect;
owners and finance see the sync and run its steps; a refused call says who can and changes nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from domain.errors import Forbidden
from domain.model.roles import Actor
from domain.services import accounting
from tests.services.conftest import World, make_world
from tests.support.rbac import ROLES, public_services


@pytest.fixture
def world(db, system: Actor) -> Iterator[World]:  # type: ignore[no-untyped-def]
    yield make_world(db, system)


def _stage(w: World) -> dict[str, int]:
    at = w.db.clock.now()
    accounting.save_connection(w.db.uow(), w.system, realm_id="123", company_name="Co", access_token="a",
                               refresh_token="r", access_expires_at=at + timedelta(hours=1), refresh_expires_at=None)
    inv = w.issued(w.retainer_client(name="Staged Ltd"))
    tasks = accounting.next_tasks(w.db.uow(), w.system)
    return {"invoice": inv.id, "task": tasks[0].id, "task2": tasks[1].id}


Op = Callable[[World, Actor, dict[str, int]], Any]
MATRIX: list[tuple[str, str, Op]] = [
    ("connection_status", "OF", lambda w, a, s: w.call(accounting.connection_status, a)),
    ("connection_secrets", "OF", lambda w, a, s: w.call(accounting.connection_secrets, a)),
    ("list_items", "OF", lambda w, a, s: w.call(accounting.list_items, a)),
    ("sync_queue", "OF", lambda w, a, s: w.call(accounting.sync_queue, a)),
    ("set_item", "OF", lambda w, a, s: w.call(accounting.set_item, a, {"arrangement_kind": "retainer",
                                                                        "item_name": "Managed services"})),
    ("set_tax_codes", "OF", lambda w, a, s: w.call(accounting.set_tax_codes, a, {"standard:19": "7"})),
    ("take_lease", "OF", lambda w, a, s: w.call(accounting.take_lease, a, "me")),
    ("release_lease", "OF", lambda w, a, s: w.call(accounting.release_lease, a, "me")),
    ("next_tasks", "OF", lambda w, a, s: w.call(accounting.next_tasks, a)),
    ("store_tokens", "OF", lambda w, a, s: w.call(accounting.store_tokens, a, access_token="a2", refresh_token="r2",
                                                  access_expires_at=w.db.clock.now(), refresh_expires_at=None)),
    ("put_mapping", "OF", lambda w, a, s: w.call(accounting.put_mapping, a, "invoice", s["invoice"], "77", "0")),
    ("put_item_remote", "OF", lambda w, a, s: w.call(accounting.put_item_remote, a, "retainer", "5")),
    ("unpushed", "OF", lambda w, a, s: w.call(accounting.unpushed, a)),
    ("queue_payments_of", "OF", lambda w, a, s: w.call(accounting.queue_payments_of, a, [s["invoice"]])),
    ("voided_unsynced", "OF", lambda w, a, s: w.call(accounting.voided_unsynced, a)),
    ("mark_backfilled", "OF", lambda w, a, s: w.call(accounting.mark_backfilled, a)),
    ("task_done", "OF", lambda w, a, s: w.call(accounting.task_done, a, s["task"])),
    ("task_failed", "OF", lambda w, a, s: w.call(accounting.task_failed, a, s["task2"], "refused", None)),
    ("retry_dead", "OF", lambda w, a, s: w.call(accounting.retry_dead, a)),
    ("pause", "OF", lambda w, a, s: w.call(accounting.pause, a, "refresh refused")),
    ("save_connection", "O", lambda w, a, s: w.call(
        accounting.save_connection, a, realm_id="123", company_name="Co", access_token="a", refresh_token="r",
        access_expires_at=w.db.clock.now(), refresh_expires_at=None)),
    ("disconnect", "O", lambda w, a, s: w.call(accounting.disconnect, a)),
]


def test_the_matrix_names_every_public_service_function() -> None:
    assert public_services(accounting) == {name for name, _, _ in MATRIX}


@pytest.mark.parametrize("letter", list(ROLES), ids=list(ROLES.values()))
def test_every_role_against_every_accounting_service(world: World, letter: str) -> None:
    s = _stage(world)
    actor = world.actor(ROLES[letter])
    wrong: list[str] = []
    for name, allowed, op in MATRIX:
        before = world.snapshot()
        try:
            op(world, actor, s)
        except Forbidden as e:
            if letter in allowed:
                wrong.append(f"{name}: refused but should be allowed ({e.message})")
            elif "only" not in e.message or world.snapshot() != before:
                wrong.append(f"{name}: refused without saying who can, or changed something")
        else:
            if letter not in allowed:
                wrong.append(f"{name}: allowed but should be refused")
    assert wrong == []
    with pytest.raises(Forbidden) if letter != "O" else contextlib.nullcontext():
        accounting.may_connect(actor)

"""Idempotency-Key on every POST, with Stripe's semantics (see domain/services/idempotency.py)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter

from channels.http import create_app
from domain.errors import IdempotencyInFlight
from domain.services import idempotency, users
from domain.store.session import Database
from domain.store.tables import IdempotencyKeyRow
from tests.http.test_problems import assert_problem
from tests.support.api import Api, make_user, row_counts
from tests.support.fixtures import EMAILS, Clients
from tests.support.scenario import walk_client
from tests.support.server import live_server

ACME = {"name": "Acme GmbH", "currency": "EUR", "billing_emails": ["ap@acme.example.com"]}


def clients_in(db: Database) -> int:
    return row_counts(db)["clients"]


def test_a_retry_replays_the_first_response_and_creates_one_row(db: Database, api: Api) -> None:
    first = api.post("/v1/clients", json=ACME, key="create-acme")
    again = api.post("/v1/clients", json=ACME, key="create-acme")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert "idempotent-replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert clients_in(db) == 1


def test_the_same_request_formatted_differently_is_the_same_request(db: Database, api: Api) -> None:
    first = api.post("/v1/clients", json=ACME, key="k")
    reordered = json.dumps(dict(reversed(list(ACME.items()))), indent=2).encode()
    again = api.http.post("/v1/clients", content=reordered,
                          headers={"Idempotency-Key": "k", "Content-Type": "application/json"})
    assert again.status_code == 201 and again.content == first.content
    assert clients_in(db) == 1


def test_without_a_key_every_post_counts(db: Database, api: Api) -> None:
    api.ok("POST", "/v1/clients", 201, json=ACME)
    api.ok("POST", "/v1/clients", 201, json=ACME)
    assert clients_in(db) == 2


def test_the_same_key_for_another_request_is_refused(db: Database, api: Api) -> None:
    api.ok("POST", "/v1/clients", 201, json=ACME, key="k")
    body = assert_problem(api.post("/v1/clients", json={**ACME, "name": "Initech"}, key="k"), 422,
                          "idempotency.mismatch", "Idempotency-Key")
    assert body["details"] == {"differs": "body"}
    other_path = api.post("/v1/invoices/draft", json=ACME, key="k")
    assert assert_problem(other_path, 422, "idempotency.mismatch")["details"] == {"differs": "path"}
    assert clients_in(db) == 1 and row_counts(db)["invoices"] == 0


def test_keys_belong_to_their_user(db: Database, as_user: Clients) -> None:
    a = as_user.owner.post("/v1/clients", json=ACME, key="shared")
    b = as_user.finance.post("/v1/clients", json=ACME, key="shared")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"] and "idempotent-replayed" not in b.headers
    assert clients_in(db) == 2


def test_a_request_still_in_flight_gets_409(db: Database, api: Api) -> None:
    # The first request with the key reserved it and is still running (simulated through the service).
    owner = users.actor_by_email(db.uow(), EMAILS["owner"])
    request_hash = idempotency.fingerprint("POST", "/v1/clients", json.dumps(ACME).encode())
    assert idempotency.begin(db.uow(), owner, "slow", "POST", "/v1/clients", request_hash) is None

    assert_problem(api.post("/v1/clients", json=ACME, key="slow"), 409, "idempotency.in_flight", "Idempotency-Key")
    assert clients_in(db) == 0
    # Another body with the key is a mismatch even while the first runs.
    assert_problem(api.post("/v1/clients", json={**ACME, "name": "B"}, key="slow"), 422, "idempotency.mismatch")

    # When it finishes, a retry gets its response.
    idempotency.complete(db.uow(), owner, "slow", request_hash, 201, '{"id": 42}')
    r = api.post("/v1/clients", json=ACME, key="slow")
    assert (r.status_code, r.text, r.headers["Idempotent-Replayed"]) == (201, '{"id": 42}', "true")
    assert clients_in(db) == 0


def test_concurrent_duplicates_execute_once(db: Database, server: str, people: object) -> None:
    token = people.owner
    n = 8
    barrier = threading.Barrier(n)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            barrier.wait()
            r = http.post("/v1/clients", json=ACME, headers={"Idempotency-Key": "race"})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert set(statuses) <= {201, 409}, [r.text for r in results]
    created = [r for r in results if r.status_code == 201]
    assert len([r for r in created if "idempotent-replayed" not in r.headers]) == 1
    assert len({r.content for r in created}) == 1
    assert all(r.json()["code"] == "idempotency.in_flight" for r in results if r.status_code == 409)
    assert clients_in(db) == 1


def test_a_reservation_racing_another_sees_it_in_flight(db: Database, people: object) -> None:
    """The race the unique (principal, key) settles: a second reservation made while the first is not yet
    committed waits for it, then reports it in flight (PostgreSQL: via the IntegrityError; SQLite: the
    write lock)."""
    owner = users.actor_by_email(db.uow(), EMAILS["owner"])
    request_hash = idempotency.fingerprint("POST", "/v1/clients", b"{}")
    first = db.uow()
    with first:
        first.idempotency.add(IdempotencyKeyRow(
            principal=idempotency.principal_of(owner), key="race", method="POST", path="/v1/clients",
            request_hash=request_hash, state="in_flight", created_at=db.clock.now()))
        outcome: list[BaseException] = []

        def second() -> None:
            try:
                idempotency.begin(db.uow(), owner, "race", "POST", "/v1/clients", request_hash)
            except BaseException as e:  # reported to the test thread below
                outcome.append(e)

        racer = threading.Thread(target=second)
        racer.start()
        time.sleep(0.3)
        assert racer.is_alive(), outcome  # waiting for the first reservation to commit or roll back
        first.commit()
    racer.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], IdempotencyInFlight), outcome
    assert row_counts(db, skip=())["idempotency_keys"] == 1


def test_refusals_are_replayed_too(db: Database, api: Api) -> None:
    first = api.post("/v1/invoices/4711/issue", key="issue-4711")
    assert_problem(first, 404, "invoice.not_found")
    again = api.post("/v1/invoices/4711/issue", key="issue-4711")
    assert again.status_code == 404 and again.content == first.content
    assert again.headers["content-type"] == "application/problem+json" and again.headers["Idempotent-Replayed"]


def test_a_body_that_did_not_validate_is_kept_too(db: Database, api: Api) -> None:
    bad = api.post("/v1/clients", json={"name": "Acme"}, key="k")
    assert_problem(bad, 422, "validation.invalid", "currency")
    assert api.post("/v1/clients", json={"name": "Acme"}, key="k").content == bad.content
    # The corrected request is a new request: it needs a new key.
    assert_problem(api.post("/v1/clients", json=ACME, key="k"), 422, "idempotency.mismatch")
    api.ok("POST", "/v1/clients", 201, json=ACME, key="k2")


def test_no_content_is_replayed_as_no_content(db: Database, api: Api) -> None:
    acme = walk_client(api)
    draft = api.ok("POST", "/v1/invoices/draft", 201, json={"client_id": acme.id, "period_start": "2026-04-01",
                                                             "period_end": "2026-04-30"})
    first = api.post(f"/v1/invoices/{draft['id']}/discard", key="d")
    again = api.post(f"/v1/invoices/{draft['id']}/discard", key="d")
    assert (first.status_code, first.content) == (again.status_code, again.content) == (204, b"")
    assert again.headers["Idempotent-Replayed"] == "true"


def test_keys_expire_after_24_hours(db: Database, api: Api) -> None:
    api.ok("POST", "/v1/clients", 201, json=ACME, key="old")
    db.clock.set(db.clock.now() + timedelta(hours=25))  # type: ignore[attr-defined]
    r = api.post("/v1/clients", json={**ACME, "name": "Initech"}, key="old")
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert clients_in(db) == 2
    api.ok("POST", "/v1/clients", 201, json=ACME, key="fresh")
    db.clock.set(db.clock.now() + timedelta(hours=25))  # type: ignore[attr-defined]
    idempotency.purge_expired(db.uow(), users.actor_by_email(db.uow(), EMAILS["owner"]))
    assert row_counts(db, skip=())["idempotency_keys"] == 0


def test_a_bad_key_is_refused(db: Database, api: Api) -> None:
    assert_problem(api.post("/v1/clients", json=ACME, key="x" * 256), 400, "idempotency.bad_key", "Idempotency-Key")
    assert clients_in(db) == 0 and row_counts(db, skip=())["idempotency_keys"] == 0


def test_keys_are_ignored_on_reads_and_without_a_user(db: Database, as_user: Clients) -> None:
    as_user.owner.ok("GET", "/v1/clients", headers={"Idempotency-Key": "read"})
    assert_problem(as_user.anonymous.post("/v1/clients", json=ACME, key="anon"), 401, "auth.unauthenticated")
    assert row_counts(db, skip=())["idempotency_keys"] == 0


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # about the HTTP layer, not the database
def test_a_failed_first_response_is_replayed(db: Database) -> None:
    token = make_user(db, "olivia@example.com", "owner")
    calls = []
    app = create_app(db)
    extra = APIRouter()

    @extra.post("/v1/explode")
    def explode() -> None:
        calls.append(1)
        raise RuntimeError("the disk is on fire")

    app.include_router(extra)
    with live_server(app) as url, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        first = http.post("/v1/explode", json={}, headers={"Idempotency-Key": "boom"})
        again = http.post("/v1/explode", json={}, headers={"Idempotency-Key": "boom"})
    assert_problem(first, 500, "internal.error")
    assert again.status_code == 500 and again.content == first.content and again.headers["Idempotent-Replayed"]
    assert "fire" not in first.text and calls == [1]

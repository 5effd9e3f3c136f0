"""Authentication by bearer token, and roles enforced (by the services) for the HTTP door."""

from __future__ import annotations

from domain.model.roles import Actor
from domain.services import users
from domain.store.session import Database
from tests.http.test_problems import assert_problem
from tests.support.api import Api, row_counts
from tests.support.fixtures import EMAILS, Clients
from tests.support.scenario import issued_invoice, log_hours, new_client, walk_client


def test_no_token_is_401(as_user: Clients) -> None:
    r = as_user.anonymous.get("/v1/clients")
    body = assert_problem(r, 401, "auth.unauthenticated", "Authorization")
    assert r.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in body["detail"]


def test_a_bad_token_is_401(as_user: Clients) -> None:
    assert_problem(as_user.token("bl_not-a-real-token").get("/v1/clients"), 401, "auth.unauthenticated")
    r = as_user.anonymous.get("/v1/clients", headers={"Authorization": "Basic b2xpdmlhOnB3"})
    assert_problem(r, 401, "auth.unauthenticated")


def test_a_deactivated_users_token_stops_working(db: Database, as_user: Clients) -> None:
    assert as_user.viewer.get("/v1/me").status_code == 200
    users.set_active(db.uow(), Actor.system("tests"), EMAILS["viewer"], False)
    assert_problem(as_user.viewer.get("/v1/me"), 401, "auth.unauthenticated")


def test_a_post_without_a_token_is_401_and_changes_nothing(db: Database, as_user: Clients) -> None:
    before = row_counts(db)
    r = as_user.anonymous.post("/v1/clients", json={"name": "Acme", "currency": "EUR"}, key="k1")
    assert_problem(r, 401, "auth.unauthenticated")
    assert row_counts(db, skip=()) == {**before, "idempotency_keys": 0}


def test_me_says_who_is_calling(as_user: Clients) -> None:
    me = as_user.finance.ok("GET", "/v1/me")
    assert (me["email"], me["role"], me["kind"]) == (EMAILS["finance"], "finance", "person")


def test_public_endpoints_need_no_token(as_user: Clients) -> None:
    anon = as_user.anonymous
    assert anon.ok("GET", "/healthz") == {"status": "ok"}
    assert anon.get("/openapi.json").status_code == 200
    assert "swagger" in anon.get("/docs").text.lower()


def test_a_viewer_cannot_create_a_client_and_nothing_changes(db: Database, as_user: Clients) -> None:
    before = row_counts(db)
    r = as_user.viewer.post("/v1/clients", json={"name": "Acme", "currency": "EUR"})
    assert_problem(r, 403, "auth.forbidden")
    assert row_counts(db) == before
    assert as_user.owner.ok("GET", "/v1/clients") == []


def test_a_viewer_reads_but_cannot_change_the_books(as_user: Clients) -> None:
    acme = walk_client(as_user.owner)
    assert as_user.viewer.ok("GET", f"/v1/clients/{acme.id}")["name"] == "Acme GmbH"
    for path, body in [(f"/v1/clients/{acme.id}/arrangements", {"kind": "pass_through"}),
                       ("/v1/invoices/draft", {"client_id": acme.id, "period_start": "2026-03-01",
                                               "period_end": "2026-03-31"}),
                       (f"/v1/milestones/{acme.milestone_id}/complete", {})]:
        assert_problem(as_user.viewer.post(path, json=body), 403, "auth.forbidden")
    assert_problem(as_user.viewer.patch("/v1/settings", json={"pilot_mode": True}), 403, "auth.forbidden")


def test_a_contractor_sees_only_their_own_time(as_user: Clients) -> None:
    acme = walk_client(as_user.owner)
    log_hours(as_user.owner, acme.id, [("2026-03-02", "3")], person="someone@example.com")
    mine = as_user.contractor.ok("POST", "/v1/time-entries", 201, json={
        "client_id": acme.id, "role": "developer", "date": "2026-03-03", "hours": "2"})
    assert mine["person"] == EMAILS["contractor"]
    assert [e["id"] for e in as_user.contractor.ok("GET", "/v1/time-entries")] == [mine["id"]]
    assert len(as_user.owner.ok("GET", "/v1/time-entries")) == 2
    r = as_user.contractor.post("/v1/time-entries", json={
        "client_id": acme.id, "person": "someone@example.com", "role": "developer", "date": "2026-03-03",
        "hours": "2"})
    assert_problem(r, 403, "auth.forbidden", "person")
    assert_problem(as_user.contractor.get("/v1/invoices"), 403, "auth.forbidden")


def test_an_account_manager_sees_only_their_clients(db: Database, as_user: Clients) -> None:
    am_id = as_user.account_manager.ok("GET", "/v1/me")["user_id"]
    mine = walk_client(as_user.owner, "Mine Ltd", account_manager_ids=[am_id])
    theirs = walk_client(as_user.owner, "Theirs plc")
    log_hours(as_user.owner, theirs.id, [("2026-03-02", "3")])
    other_invoice = issued_invoice(as_user.owner, as_user.finance, theirs.id)
    am = as_user.account_manager

    assert [c["name"] for c in am.ok("GET", "/v1/clients")] == ["Mine Ltd"]
    assert am.ok("GET", f"/v1/clients/{mine.id}")["id"] == mine.id
    assert_problem(am.get(f"/v1/clients/{theirs.id}"), 404, "client.not_found")
    assert_problem(am.get(f"/v1/clients/{theirs.id}/arrangements"), 404, "client.not_found")
    assert_problem(am.get(f"/v1/invoices/{other_invoice['id']}"), 404, "invoice.not_found")
    assert am.ok("GET", "/v1/invoices") == []
    assert all(e["client_id"] == mine.id for e in am.ok("GET", "/v1/time-entries"))
    before = row_counts(db)
    r = am.post("/v1/invoices/draft", json={"client_id": theirs.id, "period_start": "2026-04-01",
                                            "period_end": "2026-04-30"})
    assert_problem(r, 404, "client.not_found", "client_id")
    assert_problem(am.post(f"/v1/milestones/{theirs.milestone_id}/complete"), 404, "client.not_found")
    assert row_counts(db) == before
    # ... and drafts for their own client.
    assert am.ok("POST", "/v1/invoices/draft", 201, json={"client_id": mine.id, "period_start": "2026-03-01",
                                                          "period_end": "2026-03-31"})["client_id"] == mine.id


def test_nobody_approves_their_own_draft(as_user: Clients) -> None:
    client = new_client(as_user.owner)
    api: Api = as_user.finance
    api.ok("POST", f"/v1/clients/{client['id']}/arrangements", 201, json={"kind": "retainer", "fee": "1000.00"})
    draft = api.ok("POST", "/v1/invoices/draft", 201, json={"client_id": client["id"], "period_start": "2026-04-01",
                                                             "period_end": "2026-04-30"})
    assert api.ok("POST", f"/v1/invoices/{draft['id']}/issue")["status"] == "pending_approval"
    assert_problem(api.post(f"/v1/invoices/{draft['id']}/approve"), 403, "approval.own_request")
    approved = as_user.finance2.ok("POST", f"/v1/invoices/{draft['id']}/approve")
    assert approved["status"] == "issued"

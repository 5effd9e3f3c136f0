"""Errors are problem+json with a stable shape: type, title, status, code, field, detail (details, errors)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter

from channels.http import create_app
from domain.store.session import Database
from tests.support.api import Api
from tests.support.fixtures import Clients
from tests.support.server import live_server

SHAPE = {"type", "title", "status", "code", "field", "detail"}


def assert_problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert set(body) >= SHAPE, body
    assert body["status"] == status and body["code"] == code and body["type"] == f"urn:billable:problem:{code}"
    assert body["title"] and body["detail"]
    if field is not None:
        assert body["field"] == field, body
    return body


def test_a_domain_refusal_is_problem_json(api: Api) -> None:
    body = assert_problem(api.get("/v1/invoices/999"), 404, "invoice.not_found", "invoice_id")
    assert body["title"] == "Not Found" and "999" in body["detail"]


def test_details_travel_with_the_problem(as_user: Clients) -> None:
    body = assert_problem(as_user.viewer.post("/v1/clients", json={"name": "X", "currency": "EUR"}), 403,
                          "auth.forbidden")
    assert body["details"] == {"permission": "manage_clients", "role": "viewer"}
    assert "owners and finance" in body["detail"]


def test_request_validation_names_every_field(api: Api) -> None:
    r = api.post("/v1/clients", json={"billing_emails": ["not-an-email"], "payment_terms_days": -1})
    body = assert_problem(r, 422, "validation.invalid", "name")
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"name", "currency", "billing_emails.0", "payment_terms_days"}
    assert fields["name"] == "is required"
    assert body["detail"].startswith("name: is required")


def test_invalid_json_is_a_422_on_the_body(api: Api) -> None:
    r = api.http.post("/v1/clients", content=b'{"name": ', headers={"content-type": "application/json"})
    body = assert_problem(r, 422, "validation.invalid", "body")
    assert "not valid JSON" in body["detail"]


def test_unknown_fields_are_refused_by_name(api: Api) -> None:
    r = api.post("/v1/clients", json={"name": "Acme", "currency": "EUR", "colour": "blue"})
    assert_problem(r, 422, "validation.invalid", "colour")


def test_unknown_route_and_wrong_method(api: Api) -> None:
    assert_problem(api.get("/v1/nothing-here"), 404, "http.not_found")
    r = api.http.delete("/v1/clients")
    assert_problem(r, 405, "http.method_not_allowed")
    assert r.headers["allow"]


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # nothing here depends on the database
def test_an_unhandled_error_is_a_500_that_leaks_nothing(db: Database) -> None:
    app = create_app(db)
    boom = APIRouter()

    @boom.get("/boom")
    def explode() -> None:
        raise RuntimeError("secret connection string postgresql://user:hunter2@db")

    app.include_router(boom)
    with live_server(app) as url, httpx.Client(base_url=url) as http:
        r = http.get("/boom")
    body = assert_problem(r, 500, "internal.error")
    assert "hunter2" not in r.text and "RuntimeError" not in r.text and "Traceback" not in r.text
    assert body["field"] is None

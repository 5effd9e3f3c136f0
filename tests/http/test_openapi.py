"""The API describes itself: the contract paths and fields at /openapi.json, docs at /docs."""

from __future__ import annotations

import pytest

from domain.store.session import Database
from tests.support.api import Api

CONTRACT = {
    ("get", "/healthz"),
    ("post", "/v1/clients"), ("get", "/v1/clients"), ("get", "/v1/clients/{client_id}"),
    ("patch", "/v1/clients/{client_id}"),
    ("post", "/v1/clients/{client_id}/arrangements"), ("get", "/v1/clients/{client_id}/arrangements"),
    ("post", "/v1/clients/{client_id}/archive"), ("post", "/v1/clients/{client_id}/reactivate"),
    *(("post", f"/v1/clients/{{client_id}}/arrangements/{{arrangement_id}}/{action}") for action in (
        "amendments", "end", "reopen")),
    ("get", "/v1/clients/{client_id}/arrangements/{arrangement_id}/versions"),
    ("get", "/v1/amendments"), ("post", "/v1/amendments/{version_id}/approve"),
    ("post", "/v1/time-entries"), ("get", "/v1/time-entries"), ("post", "/v1/expenses"),
    ("post", "/v1/milestones/{milestone_id}/complete"), ("post", "/v1/sla-breaches"),
    ("post", "/v1/invoices/draft"), ("get", "/v1/invoices"), ("get", "/v1/invoices/{invoice_id}"),
    *(("post", f"/v1/invoices/{{invoice_id}}/{action}") for action in (
        "issue", "approve", "reject", "void", "mark-uncollectible", "discard", "lines", "payments", "credit-notes")),
    ("get", "/v1/audit"), ("get", "/v1/audit/verify"),
    ("get", "/v1/settings"), ("patch", "/v1/settings"), ("get", "/v1/me"),
}

pytestmark = pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the schema does not depend on it


def test_openapi_lists_the_contract(db: Database, api: Api) -> None:
    spec = api.ok("GET", "/openapi.json")
    served = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert served >= CONTRACT, CONTRACT - served
    assert not any(path.startswith("/v1") for path in spec["paths"] if path.rstrip("/") != path)


# Webhooks authenticate their sender by a signature over the body, not by a user's bearer token.
SIGNED_BY_SENDER = {"/v1/email/bounces", "/v1/events/{source}", "/webhooks/quickbooks"}


def test_every_post_documents_idempotency_and_bearer_auth(db: Database, api: Api) -> None:
    spec = api.ok("GET", "/openapi.json")
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer",
        "description": "An API token made by `billable users add EMAIL --role ROLE`."}
    for path, ops in spec["paths"].items():
        if "post" in ops:
            assert "Idempotency-Key" in [p["name"] for p in ops["post"].get("parameters", [])], path
            if path in SIGNED_BY_SENDER:
                continue
            assert ops["post"].get("security") == [{"HTTPBearer": []}], path


def test_errors_are_documented_as_problem_details(db: Database, api: Api) -> None:
    spec = api.ok("GET", "/openapi.json")
    assert {"type", "title", "status", "code", "field", "detail", "details", "errors"} <= set(
        spec["components"]["schemas"]["Problem"]["properties"])
    refused = spec["paths"]["/v1/invoices/{invoice_id}/payments"]["post"]["responses"]["4XX"]
    assert refused["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_field_names_and_money_types_are_as_promised(db: Database, api: Api) -> None:
    schemas = api.ok("GET", "/openapi.json")["components"]["schemas"]
    client = schemas["ClientIn"]["properties"]
    assert {"name", "currency", "billing_emails", "payment_terms_days", "tax_profile", "po_required"} <= set(client)
    assert set(schemas["TimeEntryRequest"]["properties"]) >= {"client_id", "person", "role", "date", "hours",
                                                             "description"}
    assert set(schemas["DraftRequest"]["properties"]) == {"client_id", "period_start", "period_end"}
    payment = schemas["PaymentRequest"]["properties"]
    assert set(payment) == {"amount", "received_on", "reference"}
    assert payment["amount"]["type"] == "string"  # money travels as decimal strings
    invoice = schemas["InvoiceView"]["properties"]
    assert {"lines", "checks", "tax_by_rate", "balance", "payments", "credit_notes", "overdue"} <= set(invoice)


def test_docs_are_served(db: Database, api: Api) -> None:
    r = api.get("/docs")
    assert r.status_code == 200 and "/openapi.json" in r.text

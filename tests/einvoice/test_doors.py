"""The e-invoice doors and their refusals: GET /v1/invoices/{id}/einvoice, `billable invoices export`, the agent's
`client_einvoice_format` answer, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from domain.errors import BadTransition, ValidationFailed
from domain.model.einvoice import EInvoiceError
from domain.services import einvoice
from tests.documents.conftest import full_client, issued_full, world
from tests.services.conftest import World
from tests.support.fixtures import Clients, api_server, as_user, people, server

__all__ = ["api_server", "as_user", "people", "server", "world"]


def test_refusals_name_the_field(world: World) -> None:
    inv = issued_full(world)
    with pytest.raises(ValidationFailed) as e:
        world.call(einvoice.einvoice_source, world.system, inv.id, "pdf")
    assert e.value.field == "format" and e.value.code == "einvoice.bad_format" and "peppol" in e.value.message
    with pytest.raises(ValidationFailed) as e:  # the client has no format and none was asked for
        world.call(einvoice.einvoice_source, world.system, inv.id)
    assert e.value.field == "format" and e.value.code == "einvoice.no_format"
    draft = world.draft(full_client(world, name="Draft GmbH"))
    with pytest.raises(BadTransition) as e:
        world.call(einvoice.einvoice_source, world.system, draft.id, "peppol")
    assert e.value.code == "invoice.not_issued"
    with pytest.raises(EInvoiceError):
        world.call(einvoice.einvoice_source, world.system, inv.id, "xrechnung-ubl")


def test_http_einvoice_refusals(world: World, as_user: Clients) -> None:
    inv = issued_full(world)
    r = as_user.finance.get(f"/v1/invoices/{inv.id}/einvoice", params={"format": "edifact"})
    assert r.status_code == 422 and r.json()["field"] == "format"
    assert as_user.anonymous.get(f"/v1/invoices/{inv.id}/einvoice?format=peppol").status_code == 401
    assert as_user.account_manager.get(f"/v1/invoices/{inv.id}/einvoice?format=peppol").status_code == 404

"""The e-invoice doors and their refusals: GET /v1/invoices/{id}/einvoice, `billable invoices export`, the agent's
`client_einvoice_format` answer, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.cli.main import app as cli_app
from domain.errors import BadTransition, ValidationFailed
from domain.model.einvoice import EInvoiceError
from domain.services import einvoice, parties
from domain.services.demo import SELLER
from domain.store.session import Database
from tests.documents.conftest import world
from tests.einvoice._rules import assert_valid
from tests.einvoice.test_email import NL_BUYER
from tests.services.conftest import World
from tests.support.fixtures import Clients, api_server, as_user, people, server

__all__ = ["api_server", "as_user", "people", "server", "world"]


def test_refusals_name_the_field(world: World) -> None:
    inv = world.issued(world.retainer_client())
    with pytest.raises(ValidationFailed) as e:
        world.call(einvoice.einvoice_source, world.system, inv.id, "pdf")
    assert e.value.field == "format" and e.value.code == "einvoice.bad_format" and "peppol" in e.value.message
    with pytest.raises(ValidationFailed) as e:  # the client has no format and none was asked for
        world.call(einvoice.einvoice_source, world.system, inv.id)
    assert e.value.field == "format" and e.value.code == "einvoice.no_format"
    draft = world.draft(world.retainer_client(name="Draft GmbH"))
    with pytest.raises(BadTransition) as e:
        world.call(einvoice.einvoice_source, world.system, draft.id, "peppol")
    assert e.value.code == "invoice.not_issued"
    with pytest.raises(EInvoiceError):
        world.call(einvoice.einvoice_source, world.system, inv.id, "xrechnung-ubl")


def test_http_einvoice_refusals(world: World, as_user: Clients) -> None:
    inv = world.issued(world.retainer_client())
    r = as_user.finance.get(f"/v1/invoices/{inv.id}/einvoice", params={"format": "edifact"})
    assert r.status_code == 422 and r.json()["field"] == "format"
    assert as_user.anonymous.get(f"/v1/invoices/{inv.id}/einvoice?format=peppol").status_code == 401
    assert as_user.account_manager.get(f"/v1/invoices/{inv.id}/einvoice?format=peppol").status_code == 404


def test_http_and_cli_hand_out_the_clients_format(world: World, db: Database, as_user: Clients, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    world.call(parties.update_seller, world.system, SELLER)
    inv = world.issued(world.retainer_client("6500.00", "Van Dijk Logistiek B.V.", einvoice_format="peppol",
                                             **NL_BUYER))
    r = as_user.viewer.get(f"/v1/invoices/{inv.id}/einvoice")  # no format: the client's
    assert r.status_code == 200, r.text
    assert r.headers["x-einvoice-format"] == "peppol" and r.headers["content-type"].startswith("application/xml")
    assert f'filename="{inv.number}-peppol.xml"' in r.headers["content-disposition"]
    assert_valid(r.content, "GET /einvoice", "peppol")
    r = as_user.viewer.get(f"/v1/invoices/{inv.id}/einvoice", params={"format": "xrechnung-cii"})
    assert (r.status_code == 422 and r.json()["details"]["missing"] == ["seller.contact"]) or r.status_code == 200

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLABLE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(cli_app, ["invoices", "export", str(inv.number), "--format", "xrechnung-ubl",
                                          "--as", "fin@books.example"])
    assert result.exit_code == 0, result.output
    written = tmp_path / f"{inv.number}-xrechnung-ubl.xml"
    assert_valid(written.read_bytes(), "billable invoices export", "xrechnung-ubl")
    result = CliRunner().invoke(cli_app, ["invoices", "export", str(inv.id), "--format", "edifact",
                                          "--as", "fin@books.example"])
    assert result.exit_code == 1 and "edifact" in result.output

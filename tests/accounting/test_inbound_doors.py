"""The inbound doors over real HTTP and the CLI, on SQLite and PostgreSQL: GET /v1/accounting/drift and its POST
actions, the proposals' routes, `billable accounting drift|proposals` (all calling the same services)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from channels.cli import accounting_inbound as cli
from domain.services import accounting_inbound, users
from tests.accounting.inbound_support import Books, books
from tests.fakes.quickbooks import REALM
from tests.support.api import Api
from tests.support.fixtures import ServedApp, api_server, server

__all__ = ["api_server", "books", "server"]


@pytest.fixture
def http(books: Books, api_server: ServedApp, server: str) -> Iterator[dict[str, Api]]:
    app = api_server.app
    saved = app.state.settings
    app.state.settings = books.settings
    apis = {who: Api(server, users.rotate_token(books.db.uow(), books.system, books.world.actor(who).email or ""))
            for who in ("finance", "viewer")}
    try:
        yield apis
    finally:
        for a in apis.values():
            a.close()
        app.state.settings = saved


def test_drift_and_proposals_over_http(books: Books, http: dict[str, Api]) -> None:
    fin, viewer = http["finance"], http["viewer"]
    inv = books.issued()
    r = books.push(inv)
    books.fake.make_payment(r["Id"], "100.00")
    assert viewer.get("/v1/accounting/drift").status_code == 403
    report = fin.get("/v1/accounting/drift")
    assert report.status_code == 200, report.text
    (item,) = report.json()["items"]
    assert (item["invoice_id"], item["cause"], item["actions"]) == (inv, "payment_not_synced", ["accept"])
    refused = fin.post(f"/v1/accounting/drift/{inv}/repush")
    assert refused.status_code == 409 and refused.json()["code"] == "drift.not_repushable"
    ok = fin.post(f"/v1/accounting/drift/{inv}/accept")
    assert ok.status_code == 200 and ok.json()["cause"] == "payment_not_synced"
    assert fin.get("/v1/accounting/drift").json()["items"] == []

    cust = books.api.read("Customer", books.customer_id)
    prop = accounting_inbound.propose_client_update(books.db.uow(), books.system, REALM,
                                                    {**cust, "CompanyName": "Initech AG"}, None)
    listed = fin.get("/v1/accounting/proposals").json()
    assert [p["id"] for p in listed] == [prop["proposal_id"]]
    assert viewer.post(f"/v1/accounting/proposals/{prop['proposal_id']}/accept").status_code == 403
    done = fin.post(f"/v1/accounting/proposals/{prop['proposal_id']}/refuse", json={"reason": "typo there"})
    assert done.status_code == 200 and done.json()["status"] == "refused"
    again = fin.post(f"/v1/accounting/proposals/{prop['proposal_id']}/accept")
    assert again.status_code == 409


def test_drift_when_not_connected_is_a_409_not_a_500(books: Books, http: dict[str, Api]) -> None:
    from channels.accounting import connection as conn

    conn.disconnect(books.db, books.settings, books.world.actor("owner"))
    r = http["finance"].get("/v1/accounting/drift")
    assert r.status_code == 409 and r.json()["code"] == "accounting.not_connected"


def test_the_cli_lists_drift_and_proposals(books: Books, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    app = typer.Typer()
    cli.register(app)
    inv = books.issued()
    books.push(inv)
    monkeypatch.setattr(cli, "settings", lambda: books.settings)
    monkeypatch.setattr(cli, "open_db", lambda _s: _Undisposed(books))
    runner = CliRunner()
    out = runner.invoke(app, ["drift", "--as", books.world.actor("finance").email or ""])
    assert out.exit_code == 0, out.output
    assert "no drift" in out.output and "1 invoices compared" in out.output
    books.api.request("POST", "invoice", params={"operation": "delete"},
                      body={"Id": books.api.find("Invoice", "DocNumber", books.world.call(
                          __import__("domain.services.invoicing", fromlist=["get_invoice"]).get_invoice,
                          books.system, inv).number or "")[0]["Id"], "SyncToken": "0"})
    out = runner.invoke(app, ["drift", "--as", books.world.actor("finance").email or ""])
    assert out.exit_code == 0 and "missing there" in out.output and f"--repush {inv}" in out.output
    out = runner.invoke(app, ["proposals", "--as", books.world.actor("finance").email or ""])
    assert out.exit_code == 0 and "No client updates proposed" in out.output


class _Undisposed:
    """The test's database for the CLI, which disposes what it opened (the test keeps using it)."""

    def __init__(self, books: Books) -> None:
        self._db = books.db

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)

    def dispose(self) -> None:
        return None

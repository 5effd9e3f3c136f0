"""`billable accounting connect|status|sync|disconnect` against the local QuickBooks (both databases): the owner
connects by pasting the address the browser came back to; finance cannot connect; status says what waits."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest

from channels.accounting.quickbooks import QuickBooksAuth
from domain.settings import Settings
from domain.store.session import Database
from tests.accounting.helpers import consent
from tests.cli.conftest import Cli, cli, use_db  # noqa: F401  (the CLI fixtures)
from tests.fakes.quickbooks import REALM, FakeQuickBooks
from tests.services.conftest import EMAILS, make_world


def _env(monkeypatch: pytest.MonkeyPatch, s: Settings) -> None:
    assert s.quickbooks_client_secret is not None and s.accounting_token_key is not None
    for key, value in {"QUICKBOOKS_CLIENT_ID": s.quickbooks_client_id, "QUICKBOOKS_ENVIRONMENT":
                       s.quickbooks_environment, "QUICKBOOKS_API_URL": s.quickbooks_api_url,
                       "QUICKBOOKS_CLIENT_SECRET": s.quickbooks_client_secret.get_secret_value(),
                       "ACCOUNTING_TOKEN_KEY": s.accounting_token_key.get_secret_value(),
                       "QUICKBOOKS_REDIRECT_URI": s.quickbooks_redirect_uri}.items():
        monkeypatch.setenv(f"BILLABLE_{key}", str(value))


def test_connect_status_sync_disconnect(cli: Cli, use_db: Callable[[Database], None], db: Database,  # noqa: F811
                                        qbo: FakeQuickBooks, qbo_settings: Settings,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.model.roles import Actor

    world = make_world(db, Actor.system("tests"))
    use_db(db)
    _env(monkeypatch, qbo_settings)
    r = cli("accounting", "connect", "--redirected", "http://x/cb?code=c&state=s&realmId=1", "--as",
            EMAILS["finance"])
    assert r.exit_code == 1 and "only owners" in r.output
    # the CLI prints the consent URL and reads the address the browser comes back to
    url = QuickBooksAuth(qbo_settings).authorization_url("ignored")
    assert url.startswith(qbo.root)
    r = cli("accounting", "connect", "--redirected", "http://x/cb?error=access_denied")
    assert r.exit_code == 1 and "access_denied" in r.output
    r = cli("accounting", "status")
    assert r.exit_code == 0 and "disconnected" in r.output
    # a real round trip: the command's own state, consented at the fake
    from typer.testing import CliRunner

    from channels.cli.main import app

    captured: list[str] = []

    def prompt(text: str, **kw: object) -> str:
        q = consent(captured[0])
        return "http://127.0.0.1/app/accounting/quickbooks/callback?" + urlencode(q)

    monkeypatch.setattr("typer.prompt", prompt)
    monkeypatch.setattr("channels.accounting.connection.QuickBooksAuth.authorization_url",
                        _capture(QuickBooksAuth.authorization_url, captured))
    r = CliRunner().invoke(app, ["accounting", "connect"])
    assert r.exit_code == 0, r.output
    assert "Connected to Nordlicht Books Ltd" in r.output and REALM in r.output
    world.issued(world.retainer_client(name="Nordwerk GmbH"))
    r = cli("accounting", "status", "--queue")
    assert r.exit_code == 0 and "connected" in r.output and "waiting: 2" in r.output and "invoice.issued" in r.output
    r = cli("accounting", "items", "--set", "retainer=Managed services")
    assert r.exit_code == 0 and "retainer: Managed services" in r.output and "milestone: Milestone" in r.output
    r = cli("accounting", "items", "--set", "nonsense=X")
    assert r.exit_code == 1 and "unknown arrangement kind" in r.output
    r = cli("accounting", "tax-codes", "--set", "standard:19=TAX", "--set", "reverse_charge=NON")
    assert r.exit_code == 0 and "standard:19: TAX" in r.output
    assert cli("accounting", "items", "--as", EMAILS["viewer"]).exit_code == 1
    r = cli("accounting", "sync")
    assert r.exit_code == 0 and "2 pushed" in r.output, r.output
    assert len(qbo.all("Invoice")) == 1
    assert [i["Name"] for i in qbo.all("Item")] == ["Managed services"]
    r = cli("accounting", "disconnect")
    assert r.exit_code == 0 and "disconnected" in r.output


def _capture(fn: Callable[..., str], into: list[str]) -> Callable[..., str]:
    def wrapper(self: QuickBooksAuth, state: str) -> str:
        url = fn(self, state)
        into.append(url)
        return url
    return wrapper

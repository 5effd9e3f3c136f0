"""Connecting QuickBooks on both databases: intuit-oauth really talks to the local QuickBooks (authorize, token,
refresh, revoke), tokens are stored encrypted, refreshed before they expire; a refused refresh pauses the sync and
tells finance and owners; reconnecting resumes it. Only owners connect."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from channels.accounting import connection as conn
from channels.accounting.tokens import TokenCipher, TokenKeyError
from domain.errors import Forbidden, ValidationFailed
from domain.model.roles import Actor, Role
from domain.services import accounting
from domain.settings import Settings
from domain.store.clock import FixedClock
from domain.store.session import Database
from domain.store.tables import AccountingConnectionRow, AccountingQueueRow, OutboxRow
from tests.accounting.helpers import consent
from tests.fakes.quickbooks import REALM, FakeQuickBooks

OWNER = Actor.person(1, "owner@books.example", Role.OWNER)
FINANCE = Actor.person(2, "fin@books.example", Role.FINANCE)


def connect(db: Database, settings: Settings, actor: Actor = OWNER) -> accounting.ConnectionView:
    q = consent(conn.start_connect(db, settings, actor))
    return conn.finish_connect(db, settings, actor, q["code"], q["state"], q["realmId"])


def test_token_cipher_round_trip_and_refusals(qbo_settings: Settings) -> None:
    c = TokenCipher(qbo_settings)
    ct = c.encrypt("secret-access-token")
    assert "secret" not in ct and c.decrypt(ct) == "secret-access-token"
    with pytest.raises(TokenKeyError, match="BILLABLE_ACCOUNTING_TOKEN_KEY"):
        TokenCipher(qbo_settings.model_copy(update={"accounting_token_key": None}))
    from pydantic import SecretStr

    with pytest.raises(TokenKeyError, match="not a Fernet key"):
        TokenCipher(qbo_settings.model_copy(update={"accounting_token_key": SecretStr("short")}))
    other = TokenCipher(qbo_settings.model_copy(update={"accounting_token_key": SecretStr(
        "x" * 43 + "=")}))
    with pytest.raises(TokenKeyError, match="reconnect"):
        other.decrypt(ct)


def test_connect_refresh_pause_resume_disconnect(db: Database, qbo: FakeQuickBooks, qbo_settings: Settings,
                                                 clock: FixedClock, qbo_http: httpx.Client) -> None:
    with pytest.raises(Forbidden):
        conn.start_connect(db, qbo_settings, FINANCE)
    with pytest.raises(TokenKeyError):
        conn.start_connect(db, qbo_settings.model_copy(update={"accounting_token_key": None}), OWNER)
    with pytest.raises(conn.NotConfigured, match="CLIENT_ID"):
        conn.start_connect(db, qbo_settings.model_copy(update={"quickbooks_client_id": None}), OWNER)
    q = consent(conn.start_connect(db, qbo_settings, OWNER))
    with pytest.raises(Forbidden):  # the callback is for the person who started it
        conn.finish_connect(db, qbo_settings, Actor.person(9, "o2@books.example", Role.OWNER), q["code"],
                            q["state"], q["realmId"])
    with pytest.raises(ValidationFailed):
        conn.finish_connect(db, qbo_settings, OWNER, q["code"], q["state"] + "x", q["realmId"])
    view = conn.finish_connect(db, qbo_settings, OWNER, q["code"], q["state"], q["realmId"])
    assert (view.status, view.realm_id, view.company_name) == ("connected", REALM, "Nordlicht Books Ltd")
    assert accounting.connection_status(db.uow(), FINANCE).company_name == "Nordlicht Books Ltd"
    with db.uow() as uow:
        row = uow.session.execute(select(AccountingConnectionRow)).scalar_one()
        stored_access, stored_refresh = row.access_token, row.refresh_token
    cipher = TokenCipher(qbo_settings)
    assert stored_access.startswith("gAAAA") and cipher.decrypt(stored_access).startswith("eyJ")  # encrypted at rest
    link = conn.Connection(db, qbo_settings, http=qbo_http)
    api = link.api()
    assert api is not None and api.company_info()["Id"] == REALM

    def refreshes() -> int:
        return len([c for c in qbo.calls if c.path == "/oauth2/v1/tokens/bearer"])

    before = refreshes()
    link.api()
    assert refreshes() == before  # an hour to go: no refresh
    clock.set(clock.now() + timedelta(minutes=56))  # within five minutes of expiry: refreshed first
    api = link.api()
    assert refreshes() == before + 1 and api is not None and api.company_info()["Id"] == REALM
    with db.uow() as uow:
        row = uow.session.execute(select(AccountingConnectionRow)).scalar_one()
        assert row.refresh_token != stored_refresh and row.access_expires_at == clock.now() + timedelta(hours=1)
    # A client created while connected is queued for the sync; a refused refresh pauses, and says so
    from domain.services import clients

    clients.create_client(db.uow(), OWNER, {"name": "Nordwerk GmbH", "currency": "EUR"})
    qbo.fail_refresh = True
    clock.set(clock.now() + timedelta(hours=2))
    assert link.api() is None
    status = accounting.connection_status(db.uow(), FINANCE)
    assert status.status == "paused" and "reconnect" in status.paused_reason and status.pending == 1
    with db.uow() as uow:
        paused = uow.session.execute(select(OutboxRow).where(OutboxRow.topic == "accounting.paused")).scalar_one()
        assert paused.payload["pending"] == 1 and paused.payload["company_name"] == "Nordlicht Books Ltd"
    clients.create_client(db.uow(), OWNER, {"name": "Van Dijk BV", "currency": "EUR"})  # still queued while paused
    assert link.api() is None and len([c for c in qbo.calls if c.path == "/oauth2/v1/tokens/bearer"]) == before + 2
    qbo.fail_refresh = False
    view = connect(db, qbo_settings)
    assert view.status == "connected" and view.pending == 2 and view.paused_reason == ""
    assert link.api() is not None
    # Disconnect revokes the grant at Intuit, forgets the tokens, and queues nothing more
    with db.uow() as uow:
        refresh_plain = cipher.decrypt(uow.session.execute(select(AccountingConnectionRow)).scalar_one()
                                       .refresh_token)
    with pytest.raises(Forbidden):
        conn.disconnect(db, qbo_settings, FINANCE)
    assert conn.disconnect(db, qbo_settings, OWNER).status == "disconnected"
    assert refresh_plain not in qbo._refresh
    clients.create_client(db.uow(), OWNER, {"name": "Tern Ltd", "currency": "GBP"})
    with db.uow() as uow:
        assert len(uow.session.execute(select(AccountingQueueRow)).scalars().all()) == 2
        row = uow.session.execute(select(AccountingConnectionRow)).scalar_one()
        assert row.access_token == row.refresh_token == ""
    assert link.api() is None


def test_finance_and_owners_are_told_in_slack_when_the_sync_pauses() -> None:
    from channels.slack._blocks import notification
    from domain.model.outbox_events import AccountingPaused, parse

    event = parse("accounting.paused", AccountingPaused(
        provider="quickbooks", company_name="Nordlicht Books Ltd", reason="QuickBooks refused to refresh", pending=3,
        at="2026-04-01T09:00:00+00:00").model_dump(mode="json"))
    assert isinstance(event, AccountingPaused)
    text = notification(event)
    assert text is not None and "paused" in text and "Nordlicht Books Ltd" in text and "3 change(s)" in text
    assert "billable accounting connect" in text

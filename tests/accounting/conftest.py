"""Accounting fixtures: one local QuickBooks Online (tests/fakes/quickbooks.py) for the session, reset per test, and
settings that point intuit-oauth and the API client at it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cryptography.fernet import Fernet

from channels.accounting.quickbooks import Throttle
from domain.settings import Settings
from tests.fakes.quickbooks import CLIENT_ID, CLIENT_SECRET, VERIFIER_TOKEN, FakeQuickBooks

TOKEN_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="session")
def qbo_server() -> Iterator[FakeQuickBooks]:
    fake = FakeQuickBooks().start()
    yield fake
    fake.stop()


@pytest.fixture
def qbo(qbo_server: FakeQuickBooks) -> FakeQuickBooks:
    qbo_server.reset()
    return qbo_server


@pytest.fixture
def qbo_settings(qbo_server: FakeQuickBooks) -> Settings:
    return Settings(env="test", database_url="sqlite://", quickbooks_client_id=CLIENT_ID,
                    quickbooks_client_secret=CLIENT_SECRET, quickbooks_environment=qbo_server.discovery_url,
                    quickbooks_api_url=qbo_server.base_url, quickbooks_webhook_verifier_token=VERIFIER_TOKEN,
                    quickbooks_redirect_uri="http://127.0.0.1:8000/app/accounting/quickbooks/callback",
                    accounting_token_key=TOKEN_KEY, quickbooks_max_wait_seconds=0.05)


@pytest.fixture(scope="session")
def qbo_http() -> Iterator[httpx.Client]:
    """One HTTP client for the tests' API clients (closed at the end: no socket left open)."""
    with httpx.Client(timeout=30.0) as client:
        yield client


@pytest.fixture
def throttle() -> Throttle:
    """A fresh client-side limiter per test (the process-wide one would carry calls over between tests)."""
    return Throttle()

"""QuickBooks, inbound, on the channel side: the reader the domain's inbound sync and drift report use (over the
connected company's API), and the worker's two chores: read what webhooks named before each round, and the Change
Data Capture catch-up on the tick. No database transaction is open while QuickBooks answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from channels.accounting.connection import Connection
from channels.accounting.quickbooks import QuickBooksApi, QuickBooksError
from domain.model.roles import Actor
from domain.services import accounting_inbound
from domain.services.accounting_inbound import CatchUpReport, NotConnected
from domain.settings import Settings
from domain.store.session import Database

log = logging.getLogger("billable.accounting.inbound")

PAGE = 1000              # QuickBooks' largest query page
CATCH_UP_EVERY = 300.0   # seconds between CDC catch-ups of one worker (webhooks carry the rest)


class ApiReader:
    """`AccountingReader` over the v3 API: one object, queries (every page), CDC; QuickBooks' clock for CDC."""

    def __init__(self, api: QuickBooksApi) -> None:
        self.api = api

    def read(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        try:
            return self.api.read(entity, entity_id)
        except QuickBooksError as e:
            if e.code == "610" or e.status == 404:
                return None
            raise

    def query(self, statement: str) -> list[dict[str, Any]]:
        base = statement.rsplit(" maxresults ", 1)[0]
        out: list[dict[str, Any]] = []
        start = 1
        while True:
            resp = self.api.query(f"{base} startposition {start} maxresults {PAGE}")
            page = next((v for k, v in resp.items() if isinstance(v, list)), [])
            out.extend(page)
            if len(page) < PAGE:
                return out
            start += PAGE

    def cdc(self, entities: Sequence[str], changed_since: datetime) -> dict[str, list[dict[str, Any]]]:
        since = changed_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.api.cdc(list(entities), since)

    def now(self) -> datetime:
        return datetime.now(UTC)


_http: httpx.Client | None = None


def _shared_http() -> httpx.Client:
    """One connection pool for the doors' readers (each request would otherwise open and leak its own)."""
    global _http
    if _http is None:
        _http = httpx.Client(timeout=30.0)
    return _http


def reader(db: Database, settings: Settings, connection: Connection | None = None) -> ApiReader:
    """The connected company's reader; NotConnected (409) when there is none or the sync is paused."""
    api = (connection or Connection(db, settings, http=_shared_http())).api()
    if api is None:
        raise NotConnected("QuickBooks is not connected (or the sync is paused): connect it from the dashboard "
                           "(owners), then try again", field="realm_id")
    return ApiReader(api)


class LazyReader:
    """A reader opened on first use: a door can hand it to a service that checks the person's role first, so a
    refused request never touches QuickBooks (nor refreshes its tokens)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._reader: ApiReader | None = None

    def _open(self) -> ApiReader:
        if self._reader is None:
            self._reader = reader(self.db, self.settings)
        return self._reader

    def read(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        return self._open().read(entity, entity_id)

    def query(self, statement: str) -> list[dict[str, Any]]:
        return self._open().query(statement)

    def cdc(self, entities: Sequence[str], changed_since: datetime) -> dict[str, list[dict[str, Any]]]:
        return self._open().cdc(entities, changed_since)

    def now(self) -> datetime:
        return datetime.now(UTC)


class Inbound:
    """The worker's inbound chores, for one database and its settings."""

    def __init__(self, db: Database, settings: Settings, connection: Connection | None = None) -> None:
        self.db, self.settings = db, settings
        self.connection = connection or Connection(db, settings, Actor.system("accounting inbound"))
        self.actor = Actor.system("accounting inbound")
        self._last_catch_up = 0.0

    def read_named(self) -> int:
        """Read the objects that waiting webhook changes name, in batched queries; how many were read."""
        wanted = accounting_inbound.unread_changes(self.db.uow())
        if not wanted:
            return 0
        try:
            r = reader(self.db, self.settings, self.connection)
            wanted = [w for w in wanted if w.realm_id == r.api.realm_id]  # another company's: its job says so
            objects = accounting_inbound.read_objects(r, wanted)
        except Exception as e:  # never stops the round: the changes wait (retried jobs) and are read later
            log.info("QuickBooks changes wait to be read: %s", e)
            return 0
        return accounting_inbound.attach_objects(self.db.uow(), objects)

    def catch_up(self, force: bool = False) -> CatchUpReport | None:
        """The CDC catch-up (at most every CATCH_UP_EVERY seconds unless forced); None when not connected."""
        if not force and time.monotonic() - self._last_catch_up < CATCH_UP_EVERY:
            return None
        self._last_catch_up = time.monotonic()
        realms = accounting_inbound.connected_realms(self.db.uow())
        if not realms:
            return None
        try:
            r = reader(self.db, self.settings, self.connection)
            return accounting_inbound.catch_up(self.db.uow(), self.actor, realms[0], r)
        except Exception as e:  # never stops the tick: the cursor stays, the next catch-up reads from it
            log.warning("QuickBooks catch-up failed (the next tick tries again): %s", e)
            return None

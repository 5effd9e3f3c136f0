"""Slack fixtures: a local Slack Web API (tests/fakes/slack_api.py) for the session, our API with the Slack app
mounted on a real uvicorn server for the session (pointed at each test's database), a worker sending the outbox
to Slack while a test runs, and a client that sends correctly signed Slack requests over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from channels.notify import make_sender
from channels.worker import Worker
from domain.settings import Settings
from domain.store.session import Database
from evals import Seeded
from tests.agent.conftest import books as books  # the standard books, on SQLite and PostgreSQL
from tests.fakes.slack_api import TEAM, FakeSlack
from tests.support.fixtures import serve_idle

SECRET = "slack-signing-secret-for-tests"
APPROVALS, NOTIFY, GENERAL = "CAPPROVALS", "CNOTIFY", "CGENERAL"
# Slack users of the standard books (evals/_seed.py), by the e-mail Slack has for them
SLACK_USERS = {"UOWNER": "owner@books.example", "UFIN": "fin@books.example", "UFIN2": "fin2@books.example",
               "UAM": "am@books.example", "UVIEWER": "viewer@books.example",
               "USTRANGER": "stranger@elsewhere.example"}


def slack_settings(api_url: str) -> Settings:
    return Settings(_env_file=None, secret_key="test-secret-" + "x" * 24, slack_bot_token="xoxb-test",
                    slack_signing_secret=SECRET, slack_approvals_channel=APPROVALS, slack_notify_channel=NOTIFY,
                    slack_api_url=api_url)


@pytest.fixture(scope="session")
def slack_api() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(slack_api: FakeSlack) -> FakeSlack:
    """The fake Slack, emptied, with the books' people in it (and a deactivated one)."""
    slack_api.reset()
    for user, email in SLACK_USERS.items():
        slack_api.add_user(user, email)
    slack_api.add_user("UGONE", "fin2@books.example", deleted=True)
    return slack_api


@dataclass
class SlackServer:
    app: FastAPI
    url: str
    settings: Settings
    idle: Database


@pytest.fixture(scope="session")
def slack_server(slack_api: FakeSlack, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[SlackServer]:
    settings = slack_settings(slack_api.base_url)
    with serve_idle(sqlite_template, tmp_path_factory, settings) as served:
        yield SlackServer(served.app, served.url, settings, served.idle_db)


@pytest.fixture
def slack(slack_server: SlackServer, books: Seeded, fake: FakeSlack) -> Iterator[SlackClient]:
    """The Slack app serving the standard books, a worker sending their outbox to the fake Slack, and a client
    that speaks to the app as Slack does."""
    app = slack_server.app
    app.state.db = books.db
    worker = Worker(books.db, make_sender(slack_server.settings, books.db), name="slack-tests", poll=0.05,
                    tick_every=0).start()
    app.state.worker = worker
    client = SlackClient(slack_server.url, fake, books)
    try:
        yield client
    finally:
        client.close()
        worker.stop()
        app.state.worker = None
        app.state.db = slack_server.idle


def sign(body: str, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    sig = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={sig}"}


_ids = itertools.count(1)


class SlackClient:
    """Sends what Slack sends (events, button clicks, modal submissions, slash commands), signed, over HTTP."""

    def __init__(self, url: str, fake: FakeSlack, books: Seeded) -> None:
        self.url, self.fake, self.books = url, fake, books
        self.http = httpx.Client(base_url=url, timeout=15)

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body: str, content_type: str, headers: dict[str, str] | None = None,
             ts: int | None = None) -> httpx.Response:
        return self.http.post(path, content=body.encode(), headers={
            "Content-Type": content_type, **sign(body, ts), **(headers or {})})

    def event(self, event: dict[str, Any], event_id: str | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        body = json.dumps({"token": "x", "team_id": TEAM, "api_app_id": "ABILLABLE", "type": "event_callback",
                           "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": int(time.time()),
                           "event": event})
        return self.post("/slack/events", body, "application/json", headers)

    def mention(self, user: str, text: str, channel: str = GENERAL, ts: str | None = None,
                thread_ts: str | None = None, **kw: Any) -> tuple[httpx.Response, str]:
        ts = ts or f"{int(time.time())}.{next(_ids):06d}"
        ev = {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "ts": ts, "channel": channel,
              "event_ts": ts}
        if thread_ts:
            ev["thread_ts"] = thread_ts
        return self.event(ev, **kw), ts

    def interact(self, payload: dict[str, Any]) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post("/slack/interactions", body, "application/x-www-form-urlencoded")

    def click(self, user: str, action_id: str, value: str, message: dict[str, Any]) -> httpx.Response:
        return self.interact({
            "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
            "api_app_id": "ABILLABLE", "trigger_id": f"trig.{next(_ids)}", "channel": {"id": message["channel"]},
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"]},
            "message": {k: message.get(k) for k in ("ts", "text", "blocks", "thread_ts")},
            "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                         "action_ts": f"{time.time():.6f}{next(_ids)}"}]})

    def command(self, user: str, text: str, channel: str = GENERAL) -> httpx.Response:
        body = urlencode({"token": "x", "team_id": TEAM, "channel_id": channel, "user_id": user,
                          "command": "/billable", "text": text, "response_url": "http://127.0.0.1:9/none",
                          "trigger_id": f"trig.{next(_ids)}", "api_app_id": "ABILLABLE"})
        return self.post("/slack/commands", body, "application/x-www-form-urlencoded")

    # ---- reading ----------------------------------------------------------------------------------------------

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.fake.posts(channel) if m.get("thread_ts") == thread_ts]

    def wait_reply(self, channel: str, thread_ts: str, n: int = 1) -> list[dict[str, Any]]:
        return self.fake.wait_for(lambda: (r := self.replies(channel, thread_ts)) and len(r) >= n and r)

    def wait_ephemeral(self, user: str, n: int = 1) -> list[dict[str, Any]]:
        return self.fake.wait_for(lambda: (e := [x for x in self.fake.ephemeral if x["user"] == user])
                                  and len(e) >= n and e)

    def card(self, invoice_id: int) -> dict[str, Any]:
        """The approval card posted for an invoice (waits for the outbox to post it)."""
        def find() -> dict[str, Any] | None:
            for m in self.fake.posts(APPROVALS):
                for b in m.get("blocks") or []:
                    if b.get("block_id") == f"approval:{invoice_id}" or f"#{invoice_id} needs" in json.dumps(b):
                        return m
            return None
        return self.fake.wait_for(find)

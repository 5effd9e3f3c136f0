"""Slack: the team talks to billable in threads and approves flagged invoices with one click (issue 6).

`mount_slack(app, settings, ...)` serves the Bolt app at /slack/events, /slack/interactions and /slack/commands
(verified with Slack's v0 signature, 5-minute window); `SlackSender` posts the outbox's approval cards and
notifications. `manifest.yml` beside this file is the app's manifest for api.slack.com/apps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from agent import Chat
from channels.slack._app import SlackDoor
from channels.slack._sender import SlackSender, web_client
from domain.settings import Settings
from domain.store.session import Database

log = logging.getLogger("billable.slack")

MANIFEST = Path(__file__).with_name("manifest.yml")
PATHS = ("/slack/events", "/slack/interactions", "/slack/commands")


def mount_slack(app: FastAPI, settings: Settings, get_db: Callable[[], Database], get_chat: Callable[[], Chat],
                wake: Callable[[], None]) -> SlackDoor:
    """Serve the Slack app on `app` (the caller checked `settings.slack_missing()` is empty)."""
    door = SlackDoor(settings, get_db, get_chat, wake)

    async def slack(request: Request) -> Response:
        return await door.handle(request)

    for path in PATHS:
        app.add_api_route(path, slack, methods=["POST"], include_in_schema=False)
    return door


class SocketMode:
    """Socket Mode (BILLABLE_SLACK_APP_TOKEN): the same app over a WebSocket Slack opens to us, for workspaces
    that cannot expose a public URL. Started and stopped with the server."""

    def __init__(self, door: SlackDoor, app_token: str) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        self.handler = SocketModeHandler(door.app, app_token, web_client=door.app.client)

    def start(self) -> None:
        self.handler.connect()
        log.info("Slack Socket Mode connected")

    def stop(self) -> None:
        self.handler.close()


__all__ = ["MANIFEST", "PATHS", "SlackDoor", "SlackSender", "SocketMode", "mount_slack", "web_client"]

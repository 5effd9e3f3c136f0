"""A local Slack Web API (real HTTP on 127.0.0.1) for the Slack tests: the methods billable calls, with 429 injection
and every call recorded. Point slack_sdk at it with `WebClient(token, base_url=fake.base_url)` (or
BILLABLE_SLACK_API_URL).

Methods: auth.test, chat.postMessage, chat.update, chat.postEphemeral, views.open, users.info,
users.lookupByEmail. Arguments arrive as JSON, form fields or a query string, as slack_sdk sends them.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TEAM = "T0BILLABLE"
BOT_USER = "UBOT"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str
    at: float


@dataclass
class FakeSlack:
    """State of the fake workspace: users, channel messages (by ts), ephemerals, opened views, recorded calls."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # channel -> ts -> message
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    rate_limits: dict[str, list[int]] = field(default_factory=dict)  # method -> Retry-After seconds, one per call
    token: str = "xoxb-test"
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    base_url: str = ""

    # ---- set-up for tests -------------------------------------------------------------------------------------

    def add_user(self, user_id: str, email: str | None, deleted: bool = False, name: str = "") -> None:
        profile = {"email": email} if email else {}
        self.users[user_id] = {"id": user_id, "team_id": TEAM, "name": name or user_id.lower(),
                               "real_name": name or user_id, "deleted": deleted, "is_bot": False,
                               "profile": {**profile, "real_name": name or user_id}}

    def rate_limit(self, method: str, *retry_after: int) -> None:
        """The next calls of `method` answer 429 with these Retry-After values, one per call."""
        self.rate_limits.setdefault(method, []).extend(retry_after)

    def reset(self) -> None:
        with self._lock:
            self.users.clear()
            self.messages.clear()
            self.ephemeral.clear()
            self.views.clear()
            self.calls.clear()
            self.rate_limits.clear()

    # ---- reading what happened ----------------------------------------------------------------------------------

    def called(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            out = [m for ch, msgs in self.messages.items() if channel in (None, ch) for m in msgs.values()]
        return sorted(out, key=lambda m: float(m["ts"]))

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.messages[channel][ts])

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> Any:
        """Poll until predicate() is truthy (work after the ack runs in the background); its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError("the fake Slack never saw what the test waited for")

    # ---- the API --------------------------------------------------------------------------------------------------

    def handle(self, method: str, args: dict[str, Any], token: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.calls.append(Call(method, args, token, time.monotonic()))
            waits = self.rate_limits.get(method)
            if waits:
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(waits.pop(0))}
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        fn = getattr(self, "_" + method.replace(".", "_"), None)
        if fn is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, fn(args), {}

    def _ts(self) -> str:
        self._seq += 1
        return f"{int(time.time())}.{self._seq:06d}"

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://billable-test.slack.com/", "team": "Billable Test", "user": "billable",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": "BBOT"}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            ts = self._ts()
            msg = {"ts": ts, "channel": channel, "text": args.get("text", ""), "blocks": _blocks(args),
                   "thread_ts": args.get("thread_ts"), "user": BOT_USER}
            self.messages.setdefault(channel, {})[ts] = msg
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        with self._lock:
            msg = self.messages.get(str(channel), {}).get(str(ts))
            if msg is None:
                return {"ok": False, "error": "message_not_found"}
            msg.update(text=args.get("text", msg["text"]), blocks=_blocks(args), edited=True)
        return {"ok": True, "channel": channel, "ts": ts, "text": msg["text"]}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.ephemeral.append({"channel": args.get("channel"), "user": args.get("user"),
                                   "text": args.get("text", ""), "blocks": _blocks(args),
                                   "thread_ts": args.get("thread_ts")})
            return {"ok": True, "message_ts": self._ts()}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if not args.get("trigger_id") or not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            self.views.append({"trigger_id": args["trigger_id"], "view": view})
        return {"ok": True, "view": {**view, "id": f"V{len(self.views):04d}"}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": user}
        return {"ok": False, "error": "users_not_found"}

    # ---- serving ------------------------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                method = url.path.rsplit("/", 1)[-1]
                args: dict[str, Any] = dict(parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                ctype = self.headers.get("Content-Type", "")
                if raw and "json" in ctype:
                    args.update(json.loads(raw))
                elif raw:
                    args.update(dict(parse_qsl(raw.decode())))
                token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip() or args.get("token", "")
                status, body, headers = fake.handle(method, args, token)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/api/"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = args.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def block_text(blocks: list[dict[str, Any]]) -> str:
    """All the text in a message's blocks, to assert on what a person would read."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "text" and isinstance(v, str):
                    out.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(blocks)
    return "\n".join(out)

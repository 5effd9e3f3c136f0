"""The HTTP API: FastAPI over the domain services. Routes are thin; the rules live in `domain/services`.

`create_app(db)` serves an open database (tests, the CLI's `serve`); `create_app()` opens
`settings.database_url` in the lifespan (without migrating: `billable serve` migrates before serving).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from channels.http._idempotency import HEADER, IdempotencyMiddleware
from channels.http._limits import BodyLimit
from channels.http._models import Health, Problem
from channels.http._problems import PROBLEM_JSON, install, problem
from channels.http._routes import ROUTERS
from channels.http._routes.chat import chat_of, close_chat
from channels.metrics import MetricsMiddleware
from channels.metrics import render as render_metrics
from channels.web import mount as mount_dashboard
from domain.model.roles import Actor
from domain.services import idempotency, sessions
from domain.settings import Settings, get_settings
from domain.store.audit_keys import keyring_for
from domain.store.session import Database

log = logging.getLogger("billable.http")

PURGE_EVERY_SECONDS = 3600.0

DESCRIPTION = """Bills the work of an IT service company the moment it is done.

* **Auth**: `Authorization: Bearer <token>` (make one with `billable users add EMAIL --role ROLE`).
* **Money** travels as decimal strings (`"1234.50"`) beside a `currency`; a JSON number is refused.
* **Errors** are `application/problem+json` with a stable `code`, the `field` at fault and a `detail`.
* **Idempotency**: every POST accepts `Idempotency-Key`. The same key and request replay the first response
  (header `Idempotent-Replayed: true`); the same key with another request is refused (422
  `idempotency.mismatch`); while the first is still running, 409 `idempotency.in_flight`. Keys live 24 hours.
"""


def create_app(db: Database | None = None, settings: Settings | None = None) -> FastAPI:
    """The API app. With `db` it serves that database (and leaves it open); without, it opens
    `settings.database_url` at startup and closes it at shutdown."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if getattr(app.state, "db", None) is None:
            owned = app.state.db = Database.open(settings.database_url, migrate=False,
                                                 keyring=keyring_for(settings))
        purger = asyncio.create_task(_purge_idempotency_keys(app))
        socket_mode = _start_socket_mode(app, settings)
        try:
            yield
        finally:
            if socket_mode is not None:
                await run_in_threadpool(socket_mode.stop)
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            close_chat(app)
            if owned is not None:
                owned.dispose()
                app.state.db = None

    app = FastAPI(title="billable", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.db = db
    app.state.settings = settings
    _redact_access_log()
    install(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes,  # before anything reads the body
                       larger={p: max(settings.max_import_bytes, settings.max_body_bytes)
                               for p in ("/v1/imports", "/app/import", "/app/import/commit")})
    app.add_middleware(MetricsMiddleware)  # outermost: it times everything, refusals included
    for router in ROUTERS:
        app.include_router(router)
    mount_dashboard(app)  # the staff dashboard under /app (issue 8)
    _slack(app, settings)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus text format: request latency by route, queue and outbox depth and lag, webhook outcomes,
        event -> draft latency (see channels/metrics.py)."""
        body, content_type = render_metrics(app.state.db)
        return Response(body, media_type=content_type)

    @app.get("/healthz", tags=["ops"], summary="Is the service up and its database reachable?",
             response_model=Health, responses={503: {"model": Health, "description": "The database is not"}})
    def healthz() -> Any:
        try:
            with app.state.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            log.warning("health check: the database is unreachable", exc_info=True)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return Health(status="ok")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            _document_idempotency(schema)
            _document_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class RedactHostedLinks(logging.Filter):
    """The access log never holds a hosted-page token: `/i/<token>...` is logged as `/i/[redacted]...` (the token
    is the permission to read that invoice)."""

    _TOKEN = re.compile(r"/i/[^/?\s]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(self._TOKEN.sub("/i/[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = self._TOKEN.sub("/i/[redacted]", record.msg)
        return True


def _redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactHostedLinks) for f in access.filters):
        access.addFilter(RedactHostedLinks())


def _slack(app: FastAPI, settings: Settings) -> None:
    """The Slack app at /slack/* when it is configured; otherwise /slack/* says what to set."""
    missing = settings.slack_missing()
    app.state.slack = None
    if missing:
        detail = ("Slack is not configured: set " + ", ".join(missing) + " (and optionally "
                  "BILLABLE_SLACK_NOTIFY_CHANNEL, BILLABLE_SLACK_APP_TOKEN for Socket Mode); see the README, Slack")

        @app.api_route("/slack/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
        def slack_not_configured(rest: str) -> Response:
            return problem(503, "slack.not_configured", detail, field=missing[0], details={"missing": missing})
        return

    from channels.slack import mount_slack

    def wake() -> None:
        worker = getattr(app.state, "worker", None)
        if worker is not None:
            worker.wake()

    app.state.slack = mount_slack(app, settings, get_db=lambda: app.state.db,
                                  get_chat=lambda: chat_of(app, app.state.db), wake=wake)


def _start_socket_mode(app: FastAPI, settings: Settings) -> Any:
    if app.state.slack is None or settings.slack_app_token is None:
        return None
    from channels.slack import SocketMode

    mode = SocketMode(app.state.slack, settings.slack_app_token.get_secret_value())
    mode.start()
    return mode


def _document_idempotency(schema: dict[str, Any]) -> None:
    """Every POST takes an optional Idempotency-Key (handled by the middleware, so no route declares it)."""
    param = {"name": HEADER, "in": "header", "required": False,
             "description": "Makes retries safe: the same key and request replay the first response (24 h).",
             "schema": {"type": "string", "maxLength": idempotency.MAX_KEY_LENGTH}}
    for path in schema.get("paths", {}).values():
        op = path.get("post")
        if op is not None:
            op.setdefault("parameters", []).append(param)


def _document_problems(schema: dict[str, Any]) -> None:
    """Errors are problem+json (not FastAPI's default validation body): say so on every /v1 operation."""
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, ops in schema.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for op in ops.values():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            responses["4XX"] = {"description": "Refused: problem details with a stable `code`, the `field` "
                                               "and a `detail` (401 no or bad token, 403 not allowed, 404 not "
                                               "found or not yours, 409 wrong state, 422 invalid input)",
                                "content": content}
            responses["5XX"] = {"description": "Our fault: problem details, nothing internal", "content": content}


async def _purge_idempotency_keys(app: FastAPI) -> None:
    """Forget idempotency keys older than 24 h and stale sign-in throttle rows, at startup and hourly after."""
    while True:
        db = app.state.db
        if db is not None:
            try:
                await run_in_threadpool(idempotency.purge_expired, db.uow(), Actor.system("idempotency purge"))
                await run_in_threadpool(sessions.purge_throttle, db.uow())
                if app.state.slack is not None:
                    from domain.services import slack

                    await run_in_threadpool(slack.forget_old_deliveries, db.uow())
            except Exception:
                log.warning("could not purge expired idempotency keys or Slack deliveries", exc_info=True)
        await asyncio.sleep(PURGE_EVERY_SECONDS)

"""What an operator watches, in the Prometheus text format at GET /metrics (the `prometheus-client` library).

- `billable_http_request_duration_seconds{method,route,status}`: latency by route template (never the raw path:
  ids and hosted-page tokens would explode the series and leak tokens).
- `billable_webhook_deliveries_total{source,outcome}`: every delivery to /v1/events/{source} by its answer.
- `billable_event_processed_seconds{source,drafted}`: from storing an event to the commit that finished it;
  `drafted="true"` is event -> draft (a rule drafted or issued an invoice).
- `billable_jobs_queued`, `billable_jobs_oldest_age_seconds`, `billable_jobs_dead`, `billable_outbox_pending`,
  `billable_outbox_failing`, `billable_outbox_lag_seconds`, `billable_outbox_dead`: read from the database at each
  scrape, so every process reports the same, whichever one a scraper reaches.

The counters and histograms are per process: with several web or worker processes, scrape each (or set
PROMETHEUS_MULTIPROC_DIR, which prometheus-client honours, and serve the aggregate).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.services import jobs
from domain.store.session import Database

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_SECONDS = Histogram(
    "billable_http_request_duration_seconds", "HTTP request latency by route template", ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10), registry=REGISTRY)
WEBHOOKS = Counter("billable_webhook_deliveries_total", "Webhook deliveries by source and outcome",
                   ["source", "outcome"], registry=REGISTRY)
EVENT_SECONDS = Histogram(
    "billable_event_processed_seconds", "From storing an event to finishing it (drafted=true: event -> draft)",
    ["source", "drafted"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300), registry=REGISTRY)

KNOWN_SOURCES = frozenset({"billable", "hubspot", "jira", "toggl", "harvest", "quickbooks"})
_OUTCOMES = {200: "duplicate_or_ignored", 202: "accepted", 401: "unauthenticated", 404: "unknown_source",
             413: "too_large", 422: "invalid", 503: "unavailable"}


def observe_event(p: jobs.Processed) -> None:
    EVENT_SECONDS.labels(p.source if p.source in KNOWN_SOURCES else "other", "true" if p.drafted else "false"
                         ).observe(p.seconds)


def count_webhook(source: str, status: int) -> None:
    WEBHOOKS.labels(source if source in KNOWN_SOURCES else "other", _OUTCOMES.get(status, str(status))).inc()


class _Books(Collector):
    """Queue and outbox depth and lag, read from the database of the app being scraped."""

    def __init__(self) -> None:
        self.db: Callable[[], Database | None] = lambda: None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        db = self.db()
        if db is None:
            return
        f = jobs.ops_figures(db.uow())
        for name, doc, value in (
            ("billable_jobs_queued", "Jobs waiting to run (events not yet processed)", f.jobs_queued),
            ("billable_jobs_oldest_age_seconds", "Age of the oldest waiting job", f.jobs_oldest_age_seconds),
            ("billable_jobs_dead", "Jobs that gave up (dead-lettered events)", f.jobs_dead),
            ("billable_outbox_pending", "Outbox messages not yet delivered", f.outbox_pending),
            ("billable_outbox_failing", "Pending outbox messages that failed at least once", f.outbox_failing),
            ("billable_outbox_lag_seconds", "Age of the oldest undelivered outbox message",
             f.outbox_oldest_age_seconds),
            ("billable_outbox_dead", "Outbox messages that gave up", f.outbox_dead),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


BOOKS = _Books()
REGISTRY.register(BOOKS)


def render(db: Database | None) -> tuple[bytes, str]:
    """The exposition text and its content type, with the database gauges read from `db`."""
    BOOKS.db = lambda: db
    try:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    finally:
        BOOKS.db = lambda: None


class MetricsMiddleware:
    """Times every HTTP request and labels it with the route template it matched (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            REQUEST_SECONDS.labels(scope.get("method", ""), _route(scope), str(status)).observe(
                time.perf_counter() - start)


def _route(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # not matched by a route of ours (404s, mounted apps): one label each, never the raw path
    raw = str(scope.get("path", ""))
    for prefix in ("/app", "/slack", "/i/", "/static"):
        if raw.startswith(prefix):
            return prefix.rstrip("/") + "/*"
    return "unmatched"

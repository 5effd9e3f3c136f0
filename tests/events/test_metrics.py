"""GET /metrics: request latency by route template, webhook outcomes, event -> draft latency, queue and outbox
depth and lag read from the database, in the Prometheus text format over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families

from channels.http import create_app
from channels.metrics import observe_event
from domain.services import jobs
from domain.store.session import Database
from tests.events.conftest import TM_RULES, Events
from tests.events.test_processing import _time
from tests.support.server import LiveServer


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_over_http(db: Database, ev: Events) -> None:
    ev.rules(TM_RULES)
    cid = ev.client()
    ev.arrangement(cid, kind="time_and_materials", default_rate="150.00")
    for i, hours in enumerate(["8", "8"]):
        ev.receive("time.logged", _time(f"te-{i}", hours, f"2026-03-{10 + i}"), f"e{i}")
    server = LiveServer(create_app(db))
    url = server.start()
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            before = _samples(http.get("/metrics").text)
            assert http.get("/v1/invoices/123456").status_code == 401
            hook = http.post("/v1/events/billable", content=b"{}", headers={"webhook-id": "x"})
            assert hook.status_code in (401, 404)  # unsigned: refused (404 where no secret is configured)
            r = http.get("/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            after = _samples(r.text)
            assert "123456" not in r.text  # route templates, never raw paths
            key = ("billable_http_request_duration_seconds_count",)
            routed = dict(method="GET", route="/v1/invoices/{invoice_id}", status="401")
            assert _value(after, key[0], **routed) == _value(before, key[0], **routed) + 1
            bad = dict(source="billable", outcome={401: "unauthenticated", 404: "unknown_source"}[hook.status_code])
            assert _value(after, "billable_webhook_deliveries_total", **bad) == \
                _value(before, "billable_webhook_deliveries_total", **bad) + 1
            # two events stored, not yet processed: the queue gauge reads the database
            assert _value(after, "billable_jobs_queued") == 2
            db.clock.set(db.clock.now() + timedelta(seconds=90))  # type: ignore[attr-defined]
            aged = _samples(http.get("/metrics").text)
            assert _value(aged, "billable_jobs_oldest_age_seconds") == 90

            seen: list[jobs.Processed] = []

            def watch(p: jobs.Processed) -> None:
                seen.append(p)
                observe_event(p)

            drafted_before = _value(aged, "billable_event_processed_seconds_count", source="billable",
                                    drafted="true")
            ev.receive("time.logged", _time("te-9", "6", "2026-03-12"), "e9")  # 22 h: over the threshold
            while jobs.process_jobs(db.uow(), "test", 50, observe=watch):
                pass
            assert [p.drafted for p in seen] == [False, False, True]
            assert seen[0].seconds == 90 and seen[2].seconds == 0
            done = _samples(http.get("/metrics").text)
            assert _value(done, "billable_jobs_queued") == 0
            assert _value(done, "billable_event_processed_seconds_count", source="billable",
                          drafted="true") == drafted_before + 1
            assert _value(done, "billable_outbox_pending") == len(ev.outbox_topics())
    finally:
        server.stop()

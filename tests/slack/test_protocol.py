"""Slack's side of the wire: signatures and their 5-minute window, the slash command, notifications through the
outbox (rate limits respected), and /slack/* without Slack configured."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from channels.slack import SlackSender
from domain.services import invoicing, outbox
from domain.store.tables import OutboxRow
from tests.fakes.slack_api import FakeSlack
from tests.slack.conftest import GENERAL, NOTIFY, SlackClient, SlackServer, sign, slack_settings
from tests.support.fixtures import ServedApp, api_server

__all__ = ["api_server"]


def test_a_bad_signature_or_a_stale_timestamp_is_401_and_nothing_is_done(slack: SlackClient) -> None:
    body = json.dumps({"type": "event_callback", "team_id": "T0BILLABLE", "event_id": "EvBAD",
                       "event": {"type": "app_mention", "user": "UFIN", "text": "<@UBOT> what's overdue?",
                                 "ts": "1.000001", "channel": GENERAL}})
    forged = slack.http.post("/slack/events", content=body, headers={
        "Content-Type": "application/json", **sign(body, secret="not-the-secret")})
    missing = slack.http.post("/slack/events", content=body, headers={"Content-Type": "application/json"})
    stale = slack.post("/slack/events", body, "application/json", ts=int(time.time()) - 301)
    assert forged.status_code == missing.status_code == stale.status_code == 401
    fresh_enough = slack.post("/slack/events", body, "application/json", ts=int(time.time()) - 200)
    assert fresh_enough.status_code == 200
    slack.wait_reply(GENERAL, "1.000001")  # the one that was signed in time is answered, once
    time.sleep(0.3)
    assert len(slack.replies(GENERAL, "1.000001")) == 1


def test_the_url_verification_challenge_is_answered(slack: SlackClient) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    r = slack.post("/slack/events", body, "application/json")
    assert r.status_code == 200 and r.json() == {"challenge": "abc123"}


def test_the_slash_command_answers_privately_with_what_the_person_may_see(slack: SlackClient) -> None:
    assert slack.command("UFIN", "overdue").status_code == 200
    assert "INV-2026-000001" in slack.wait_ephemeral("UFIN")[0]["text"]
    slack.command("UFIN", "approvals")
    assert "draft #5 Acme GmbH: 8,984.50 EUR" in slack.wait_ephemeral("UFIN", n=2)[1]["text"]
    slack.command("UFIN", "status globex")
    said = slack.wait_ephemeral("UFIN", n=3)[2]["text"]
    assert "Globex Ltd" in said and "INV-2026-000003" in said and "INV-2026-000004" in said
    slack.command("UFIN", "what")
    assert "`status <client>`" in slack.wait_ephemeral("UFIN", n=4)[3]["text"]
    # an account manager sees only their clients; a stranger nothing
    slack.command("UAM", "status globex")
    assert "No client matching" in slack.wait_ephemeral("UAM")[0]["text"]
    slack.command("USTRANGER", "overdue")
    assert "INV-" not in slack.wait_ephemeral("USTRANGER")[0]["text"]


def test_notifications_go_to_the_notify_channel_and_unknown_topics_still_read_well(slack: SlackClient) -> None:
    with slack.books.db.uow() as uow:
        now = uow.clock.now()
        uow.outbox.put("event.dead", {"event_id": 7, "source": "jira", "external_id": "j-1", "type":
                                      "milestone.completed", "attempts": 10, "reason": "unknown milestone"}, {}, now)
        uow.outbox.put("notify.delivery_failed", {"invoice_id": 1, "number": "INV-2026-000001",
                                                  "error": "550 no such user"}, {}, now)
        uow.outbox.put("payment.parked", {"parked_payment_id": 1, "amount": "120.00 EUR", "reason": "no_invoice",
                                          "reference": "?"}, {}, now)
        uow.outbox.put("something.new", {"invoice_id": 1, "what": "a topic this build does not know"}, {}, now)
        uow.commit()
    invoicing.record_payment(slack.books.db.uow(), slack.books.actor("finance"), slack.books.ids["globex_february"],
                             "1000.00", date(2026, 4, 1), reference="BACS 77")
    def texts() -> list[str]:
        return [p["text"] for p in slack.fake.posts(NOTIFY)]

    # (the seed's own payments are announced too; wait for each of ours)
    for needle in ("Event dead-lettered", "Delivery failed", "Payment parked", "INV-2026-000003", "something.new"):
        slack.fake.wait_for(lambda n=needle: any(n in t for t in texts()))
    assert any("Payment received" in t and "INV-2026-000003" in t and "1,000.00 GBP" in t and "balance 2,600.00 GBP"
               in t for t in texts()), texts()
    assert any("Event dead-lettered" in t and "billable events retry 7" in t for t in texts())
    assert any("Delivery failed" in t and "INV-2026-000001" in t for t in texts())
    assert any("Payment parked" in t and "120.00" in t and "billable payments parked" in t for t in texts())


def test_the_first_tick_of_a_day_posts_one_overdue_digest(slack: SlackClient) -> None:
    from domain.model.roles import Actor
    from domain.services import schedules

    system = Actor.system("tick")
    first = schedules.tick(slack.books.db.uow(), system)
    again = schedules.tick(slack.books.db.uow(), system)
    assert first.overdue_digest is not None and first.overdue_digest >= 1 and again.overdue_digest is None
    slack.fake.wait_for(lambda: any("Overdue invoices" in p["text"] for p in slack.fake.posts(NOTIFY)))
    digests = [p["text"] for p in slack.fake.posts(NOTIFY) if "Overdue invoices" in p["text"]]
    assert len(digests) == 1 and "INV-2026-000001" in digests[0] and "days overdue" in digests[0], digests


def test_a_429_from_slack_is_retried_after_its_retry_after(slack_server: SlackServer, fake: FakeSlack,
                                                            db: object) -> None:
    from domain.store.clock import FixedClock
    from domain.store.session import Database

    assert isinstance(db, Database) and isinstance(db.clock, FixedClock)
    with db.uow() as uow:
        uow.outbox.put("event.dead", {"event_id": 1, "source": "jira", "external_id": "x", "type": "t",
                                      "attempts": 1, "reason": "r"}, {}, uow.clock.now())
        uow.commit()
    send = SlackSender(db, slack_settings(fake.base_url))
    fake.rate_limit("chat.postMessage", 7)
    assert outbox.dispatch_outbox(db.uow(), send) == 0
    with db.uow() as uow:
        row = uow.session.execute(select(OutboxRow)).scalar_one()
        assert row.status == "pending" and "retry after 7 s" in row.last_error
        assert row.run_after == uow.clock.now() + timedelta(seconds=7)  # Slack's wait, not our backoff
    assert outbox.dispatch_outbox(db.uow(), send) == 0 and fake.posts() == []  # not before it is due
    db.clock.set(db.clock.now() + timedelta(seconds=7))
    assert outbox.dispatch_outbox(db.uow(), send) == 1
    assert len(fake.called("chat.postMessage")) == 2 and len(fake.posts()) == 1


def test_without_slack_settings_slack_paths_say_what_to_set(api_server: ServedApp) -> None:
    r = httpx.post(api_server.url + "/slack/events", content=b"{}")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "slack.not_configured" and "BILLABLE_SLACK_BOT_TOKEN" in body["detail"]
    assert body["details"]["missing"] == ["BILLABLE_SLACK_BOT_TOKEN", "BILLABLE_SLACK_SIGNING_SECRET",
                                          "BILLABLE_SLACK_APPROVALS_CHANNEL"]


def test_hostile_signatures_timestamps_and_payloads_are_401_or_422_problems(slack: SlackClient) -> None:
    body = json.dumps({"type": "event_callback", "team_id": "T0BILLABLE", "event_id": "EvHOSTILE", "event": {}})
    hostile = [
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=é☃".encode()},
        {"X-Slack-Request-Timestamp": "not-a-number", "X-Slack-Signature": "v0=abc"},
        {"X-Slack-Request-Timestamp": "١٧٧٥٠٠٠٠٠٠".encode(), "X-Slack-Signature": "v0=abc"},
        {"X-Slack-Request-Timestamp": "9" * 500, "X-Slack-Signature": "v0=abc"},
    ]
    for headers in hostile:
        r = slack.http.post("/slack/events", content=body, headers={"Content-Type": "application/json", **headers})
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json", r.text
    deep = '{"type": "event_callback", "event": ' + "[" * 50_000 + "]" * 50_000 + "}"
    r = slack.post("/slack/events", deep, "application/json")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    for payload in ("[" * 50_000 + "]" * 50_000, "not json", "[1, 2]"):
        r = slack.post("/slack/interactions", urlencode({"payload": payload}), "application/x-www-form-urlencoded")
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", payload[:20]
    # a signed view submission whose private_metadata is not ours: acknowledged, nothing done, no crash
    r = slack.interact({"type": "view_submission", "team": {"id": "T0BILLABLE"}, "user": {"id": "UFIN"},
                        "view": {"type": "modal", "callback_id": "invoice_reject_reason",
                                 "private_metadata": "[" * 5000,
                                 "state": {"values": {"reason": {"reason_input": {"value": "why"}}}}}})
    assert r.status_code == 200
    r = slack.interact({"type": "view_submission", "team": {"id": "T0BILLABLE"}, "user": {"id": "UFIN"},
                        "view": {"type": "modal", "callback_id": "invoice_reject_reason", "state": "garbage"}})
    assert r.status_code == 200
    # a shape Bolt itself cannot read (a view without its type): the sender's problem, 422
    r = slack.interact({"type": "view_submission", "team": {"id": "T0BILLABLE"}, "user": {"id": "UFIN"},
                        "view": {"callback_id": "invoice_reject_reason"}})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"

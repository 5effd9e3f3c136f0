"""POST /v1/events/{source} against a real server, on SQLite and PostgreSQL: 401/404/422 as problem+json, 202 for
a new event, 200 for a redelivery, nothing stored when the signature fails."""

from __future__ import annotations

import copy

import pytest

from domain.model.roles import Actor
from domain.services import events
from domain.store.session import Database
from domain.store.tables import EventRow
from tests.support.api import row_counts
from tests.webhooks.conftest import NOW, WHSEC_OLD, Hooks, body_of, fixture

TIME = fixture("billable_time_logged.json")


def _events(db: Database) -> list[events.EventView]:
    return events.list_events(db.uow(), Actor.system("tests"), limit=100)


def test_a_new_event_is_accepted_and_a_redelivery_is_a_duplicate(hooks: Hooks, db: Database) -> None:
    body = body_of(TIME)
    first = hooks.standard(body)
    assert first.status_code == 202 and first.json()["accepted"] == ["msg_2vN7f0xK"]
    again = hooks.standard(body, ts=NOW + 5)
    assert again.status_code == 200 and again.json()["duplicates"] == ["msg_2vN7f0xK"]
    [ev] = _events(db)
    assert (ev.source, ev.type, ev.status, ev.subject) == ("billable", "time.logged", "received", "time:psa:te-77120")


def test_the_previous_secret_still_works_while_rotating(hooks: Hooks, db: Database) -> None:
    assert hooks.standard(body_of(TIME), secret=WHSEC_OLD).status_code == 202


@pytest.mark.parametrize(("case", "code", "field"), [
    ("old", "webhook.timestamp_too_old", "webhook-timestamp"),
    ("future", "webhook.timestamp_in_future", "webhook-timestamp"),
    ("secret", "webhook.signature_invalid", "webhook-signature"),
    ("missing", "webhook.signature_missing", "webhook-signature"),
])
def test_a_bad_signature_is_401_naming_what_failed_and_stores_nothing(hooks: Hooks, db: Database, case: str,
                                                                      code: str, field: str) -> None:
    before = row_counts(db)
    body = body_of(TIME)
    r = {"old": lambda: hooks.standard(body, ts=NOW - 301), "future": lambda: hooks.standard(body, ts=NOW + 301),
         "secret": lambda: hooks.standard(body, secret="whsec_" + "d3Jvbmcgc2VjcmV0"),
         "missing": lambda: hooks.standard(body, headers={"webhook-signature": ""})}[case]()
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert (r.json()["code"], r.json()["field"]) == (code, field)
    assert row_counts(db) == before


def test_an_altered_body_is_401(hooks: Hooks, db: Database) -> None:
    body = body_of(TIME)
    altered = body.replace(b'"21"', b'"210"')
    from channels.webhooks import _signatures as sig
    from tests.webhooks.conftest import WHSEC
    r = hooks.http.post("/v1/events/billable", content=altered, headers={
        "webhook-id": "m1", "webhook-timestamp": str(NOW),
        "webhook-signature": sig.standard_webhooks_sign(WHSEC, "m1", NOW, body)})
    assert r.status_code == 401 and r.json()["code"] == "webhook.signature_invalid"


def test_an_unknown_source_is_404(hooks: Hooks, db: Database) -> None:
    r = hooks.standard(body_of(TIME), source="salesforce")
    assert r.status_code == 404 and r.json()["code"] == "event.unknown_source" and r.json()["field"] == "source"
    assert "billable" in r.json()["detail"]


def test_a_body_lacking_fields_is_422_naming_them_and_stored_as_rejected(hooks: Hooks, db: Database) -> None:
    bad = copy.deepcopy(TIME)
    del bad["data"]["hours"]
    r = hooks.standard(body_of(bad), msg_id="msg_bad")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "data.hours" and r.json()["code"] == "event.invalid"
    [ev] = _events(db)
    assert ev.status == "rejected" and ev.reason.startswith("data.hours")
    assert hooks.standard(body_of(bad), msg_id="msg_bad").status_code == 200  # a redelivery: a duplicate


def test_a_body_that_is_not_json_is_422_and_stored_as_rejected(hooks: Hooks, db: Database) -> None:
    r = hooks.standard(b"type=time.logged&hours=21", msg_id="msg_form")
    assert r.status_code == 422 and r.json()["field"] == "body"
    with db.engine.connect() as conn:
        assert conn.execute(EventRow.__table__.select()).fetchone() is not None


def test_toggl_endpoint_validation_is_answered_with_the_code(hooks: Hooks, db: Database) -> None:
    ping = fixture("toggl_ping.json")
    r = hooks.toggl(body_of(ping))
    assert r.status_code == 200 and r.json() == {"validation_code": ping["validation_code"]}
    assert _events(db) == []


def test_toggl_time_entry_becomes_time_logged(hooks: Hooks, db: Database) -> None:
    r = hooks.toggl(body_of(fixture("toggl_time_entry_created.json")))
    assert r.status_code == 202, r.text
    [ev] = _events(db)
    assert ev.event_id == "1183774290" and ev.type == "time.logged"
    assert (ev.data["hours"], ev.data["client_ref"], ev.data["date"]) == ("7.50", "toggl:project:203581244",
                                                                          "2026-03-12")


def test_jira_done_is_a_milestone_and_other_updates_are_acknowledged_only(hooks: Hooks, db: Database) -> None:
    epic = fixture("jira_epic_done.json")
    assert hooks.jira(body_of(epic)).status_code == 202
    comment = copy.deepcopy(epic)
    comment["changelog"]["items"] = [{"field": "assignee", "fieldtype": "jira", "toString": "Kim"}]
    r = hooks.jira(body_of(comment), identifier="another-delivery")
    assert r.status_code == 200 and r.json()["ignored"] == 1
    [ev] = _events(db)
    assert ev.type == "milestone.completed" and ev.data["milestone_ref"] == "jira:MIG-7"
    assert hooks.jira(body_of(epic), secret="wrong").status_code == 401


def test_harvest_relay_time_entry_hours_are_decimal(hooks: Hooks, db: Database) -> None:
    assert hooks.standard(body_of(fixture("harvest_time_entry.json")), source="harvest").status_code == 202
    [ev] = _events(db)
    assert ev.data["hours"] == "7.50" and ev.data["client_ref"] == "harvest:client:13391022"


def test_hubspot_without_a_crm_token_takes_closedwon_and_ignores_other_properties(hooks: Hooks, db: Database) -> None:
    r = hooks.hubspot(body_of(fixture("hubspot_deal_closedwon.json")))
    assert r.status_code == 202 and r.json()["accepted"] == ["1917293845"] and r.json()["ignored"] == 1
    [ev] = _events(db)
    assert ev.type == "deal.won" and ev.data["deal_ref"] == "hubspot:deal:18734450012"
    assert hooks.hubspot(body_of(fixture("hubspot_deal_closedwon.json")), ts_ms=(NOW - 301) * 1000).status_code == 401


def test_running_or_empty_timers_are_acknowledged_and_not_stored(hooks: Hooks, db: Database) -> None:
    running = copy.deepcopy(fixture("toggl_time_entry_created.json"))
    running["payload"].update({"duration": -1774864800, "stop": None})
    assert hooks.toggl(body_of(running)).json()["ignored"] == 1
    empty = copy.deepcopy(fixture("harvest_time_entry.json"))
    empty["data"].update({"hours": 0.0, "is_running": True})
    assert hooks.standard(body_of(empty), source="harvest").json()["ignored"] == 1
    assert _events(db) == []


def test_a_jira_replay_with_a_new_unsigned_identifier_is_still_a_duplicate(hooks: Hooks, db: Database) -> None:
    body = body_of(fixture("jira_epic_done.json"))
    assert hooks.jira(body).status_code == 202
    replay = hooks.jira(body, identifier="a-fresh-header-the-attacker-chose")
    assert replay.status_code == 200 and replay.json()["accepted"] == [] and len(replay.json()["duplicates"]) == 1
    [ev] = _events(db)
    assert ev.event_id == "jira:10047:10143"   # the issue and its changelog entry, both inside the signed body

"""Adapters from the providers' real payloads to canonical events, one per source.

Each source verifies its own signature scheme, then translates what it understands; deliveries about things we do
not bill (a Jira comment, a HubSpot contact change) are acknowledged and not stored. A payload that is authentic
but lacks a field becomes a rejected event naming the field (the route answers 422).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.webhooks import _signatures as sig
from domain.services.events import Incoming, body_id


@dataclass
class Delivery:
    method: str
    uri: str          # the full URL the sender signed (HubSpot): our public URL + path + query
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Parsed:
    items: list[Incoming] = field(default_factory=list)
    reply: dict[str, Any] | None = None   # answer this directly (Toggl's endpoint validation)
    ignored: int = 0                      # authentic deliveries about things we do not bill


# Epoch milliseconds from 1900 to 2999: anything else is not a time a tracker sends (and would not fit a datetime).
EpochMs = Annotated[int, Field(ge=-2_208_988_800_000, le=32_503_680_000_000)]


class _M(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _loc(e: ValidationError, prefix: str = "") -> dict[str, str]:
    err = e.errors()[0]
    path = ".".join(str(p) for p in err["loc"])
    msg = "is required" if err["type"] == "missing" else str(err["msg"]).removeprefix("Value error, ")
    return {"field": f"{prefix}{path}" if path else prefix.rstrip(".") or "body", "message": msg}


MAX_DEPTH = 32  # no provider nests deeper; a signed body nested deeper is refused, not recursed into


def _json(body: bytes) -> Any:
    """The body as JSON; ValueError when it is not JSON or nests deeper than MAX_DEPTH (RecursionError included:
    the decoder itself recurses)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise ValueError(f"it nests deeper than {MAX_DEPTH} levels") from None
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"it nests deeper than {MAX_DEPTH} levels")
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return data


def _unreadable(event_id: str, body: bytes, why: str) -> Parsed:
    return Parsed([Incoming(event_id, "unknown", {"body": body[:2000].decode("utf-8", "replace")},
                            error={"field": "body", "message": why})])


def _ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _hours(seconds_or_hours: Decimal) -> str:
    return format(seconds_or_hours.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")


class Source:
    name = ""

    def verify(self, d: Delivery, secrets: Sequence[str], now: float, tolerance: int) -> None:
        raise NotImplementedError

    def parse(self, d: Delivery) -> Parsed:
        raise NotImplementedError


# ---- our own canonical events: Standard Webhooks ------------------------------------------------------------------


class Envelope(_M):
    type: str = Field(min_length=1, max_length=40)
    timestamp: datetime | None = None
    data: dict[str, Any]


class Canonical(Source):
    """`{"type": "time.logged", "timestamp": "...", "data": {...}}`, the event id in `webhook-id`."""

    name = "billable"

    def verify(self, d: Delivery, secrets: Sequence[str], now: float, tolerance: int) -> None:
        sig.verify_standard_webhooks(d.headers, d.body, secrets, now, tolerance)

    def parse(self, d: Delivery) -> Parsed:
        msg_id = d.headers.get("webhook-id", "") or body_id(d.body)
        try:
            env = Envelope.model_validate(_json(d.body))
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            if isinstance(e, ValidationError):
                return Parsed([Incoming(msg_id, "unknown", {"body": d.body[:2000].decode("utf-8", "replace")},
                                        error=_loc(e))])
            return _unreadable(msg_id, d.body, f"the body is not JSON ({type(e).__name__}: {str(e)[:200]})")
        ts = int(d.headers.get("webhook-timestamp", "0") or 0)
        at = env.timestamp or (datetime.fromtimestamp(ts, tz=UTC) if ts else None)
        return Parsed([Incoming(msg_id, env.type, env.data, at)])


# ---- HubSpot: deal moved to a won stage ----------------------------------------------------------------------------


class HubSpotEvent(_M):
    eventId: int | str
    subscriptionType: str
    objectId: int | str
    occurredAt: EpochMs
    propertyName: str | None = None
    propertyValue: str | None = None
    portalId: int | None = None


class HubSpot(Source):
    """The Webhooks API's batch of events (a JSON array). `deal.propertyChange` of `dealstage` is a candidate; the
    route completes it from the CRM API (deal, pipeline, company) and keeps it if the stage is a won one."""

    name = "hubspot"

    def verify(self, d: Delivery, secrets: Sequence[str], now: float, tolerance: int) -> None:
        sig.verify_hubspot_v3(d.headers, d.method, d.uri, d.body, secrets, now, tolerance)

    def parse(self, d: Delivery) -> Parsed:
        try:
            batch = _json(d.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            return _unreadable(body_id(d.body), d.body, f"the body is not JSON ({err})")
        if not isinstance(batch, list):
            return _unreadable(body_id(d.body), d.body, "HubSpot sends a JSON array of events")
        out = Parsed()
        for i, raw in enumerate(batch):
            try:
                h = HubSpotEvent.model_validate(raw)
            except ValidationError as err:
                eid = str(raw.get("eventId")) if isinstance(raw, dict) and raw.get("eventId") else \
                    f"{body_id(d.body)}:{i}"
                out.items.append(Incoming(eid, "deal.won", {"raw": raw}, error=_loc(err, f"{i}.")))
                continue
            if h.subscriptionType != "deal.propertyChange" or h.propertyName != "dealstage":
                out.ignored += 1
                continue
            if not h.propertyValue:
                out.items.append(Incoming(str(h.eventId), "deal.won", {"raw": raw},
                                          error={"field": f"{i}.propertyValue", "message": "is required"}))
                continue
            # a candidate: completed (or dropped) by channels.webhooks._hubspot_api before it is stored
            out.items.append(Incoming(str(h.eventId), "deal.won", {
                "_hubspot": {"deal_id": str(h.objectId), "stage": h.propertyValue, "portal_id": h.portalId}},
                _ms(h.occurredAt)))
        return out


# ---- Jira: an issue (or epic) moved to a done status ---------------------------------------------------------------


class _JiraCategory(_M):
    key: str


class _JiraStatus(_M):
    name: str
    statusCategory: _JiraCategory


class _JiraProject(_M):
    key: str


class _JiraFields(_M):
    summary: str = ""
    status: _JiraStatus
    project: _JiraProject


class _JiraIssue(_M):
    id: str | int | None = None
    key: str
    fields: _JiraFields


class _JiraItem(_M):
    field: str
    toString: str | None = None


class _JiraChangelog(_M):
    id: str | int | None = None
    items: list[_JiraItem] = Field(default_factory=list)


class JiraEvent(_M):
    timestamp: EpochMs
    webhookEvent: str
    issue: _JiraIssue | None = None
    changelog: _JiraChangelog | None = None


class Jira(Source):
    """Jira Cloud admin webhooks (`jira:issue_updated`): a status change into the done category completes the
    milestone linked to the issue (`jira:<KEY>`), or the one with the issue's summary as its name for the client
    that the project's alias (`jira:project:<KEY>`) names. The event id comes from the signed body (the issue and
    its changelog entry: `jira:<issue id>:<changelog id>`, else the body's hash), never from the unsigned
    `X-Atlassian-Webhook-Identifier` header: a replay with a new header is the same event."""

    name = "jira"

    def verify(self, d: Delivery, secrets: Sequence[str], now: float, tolerance: int) -> None:
        sig.verify_hex_hmac(d.headers, "X-Hub-Signature", d.body, secrets)

    def parse(self, d: Delivery) -> Parsed:
        event_id = body_id(d.body)
        try:
            e = JiraEvent.model_validate(_json(d.body))
        except ValidationError as err:
            return Parsed([Incoming(event_id, "milestone.completed", {}, error=_loc(err))])
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            return _unreadable(event_id, d.body, f"the body is not JSON ({type(err).__name__})")
        if e.issue is not None and e.issue.id is not None and e.changelog is not None and e.changelog.id is not None:
            event_id = f"jira:{e.issue.id}:{e.changelog.id}"
        status_changed = e.changelog is not None and any(i.field == "status" for i in e.changelog.items)
        if e.webhookEvent != "jira:issue_updated" or not status_changed or e.issue is None:
            return Parsed(ignored=1)
        if e.issue.fields.status.statusCategory.key != "done":
            return Parsed(ignored=1)
        at = _ms(e.timestamp)
        return Parsed([Incoming(event_id, "milestone.completed", {
            "milestone_ref": f"jira:{e.issue.key}", "name": e.issue.fields.summary,
            "project_ref": f"jira:project:{e.issue.fields.project.key}", "completed_on": at.date().isoformat()}, at)])


# ---- Toggl Track: time entries ---------------------------------------------------------------------------------------


class _TogglMeta(_M):
    model: str
    action: str


class _TogglEntry(_M):
    id: int
    project_id: int | None = None
    start: datetime | None = None
    duration: int | None = None
    description: str | None = ""
    tags: list[str] | None = None
    billable: bool = True
    user_id: int | None = None
    at: datetime | None = None


class TogglEvent(_M):
    event_id: int | str
    created_at: datetime | None = None
    metadata: _TogglMeta
    payload: dict[str, Any] | str


class Toggl(Source):
    """Toggl Track webhooks: `time_entry` created/updated/deleted; the client is the entry's project
    (`toggl:project:<id>`, map it with an alias); the person is `toggl:user:<id>`, the role the first tag."""

    name = "toggl"

    def verify(self, d: Delivery, secrets: Sequence[str], now: float, tolerance: int) -> None:
        sig.verify_hex_hmac(d.headers, "X-Webhook-Signature-256", d.body, secrets)

    def parse(self, d: Delivery) -> Parsed:
        try:
            raw = _json(d.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            return _unreadable(body_id(d.body), d.body, f"the body is not JSON ({err})")
        if isinstance(raw, dict) and raw.get("payload") == "ping":
            code = raw.get("validation_code")
            return Parsed(reply={"validation_code": code} if code else {}, ignored=1)
        event_id = str(raw.get("event_id")) if isinstance(raw, dict) and raw.get("event_id") else body_id(d.body)
        try:
            e = TogglEvent.model_validate(raw)
        except ValidationError as err:
            return Parsed([Incoming(event_id, "time.logged", {}, error=_loc(err))])
        if e.metadata.model != "time_entry" or not isinstance(e.payload, dict):
            return Parsed(ignored=1)
        try:
            t = _TogglEntry.model_validate(e.payload)
        except ValidationError as err:
            return Parsed([Incoming(event_id, "time.logged", {}, error=_loc(err, "payload."))])
        at = t.at or e.created_at
        ref = f"toggl:{t.id}"
        if e.metadata.action == "deleted":
            return Parsed([Incoming(event_id, "time.deleted", {"entry_ref": ref}, at)])
        if e.metadata.action not in ("created", "updated"):
            return Parsed(ignored=1)
        if t.duration is None or t.duration < 0 or t.start is None:
            return Parsed(ignored=1)  # a running timer: it is logged when it stops
        if _hours(Decimal(t.duration) / 3600) == "0.00":
            return Parsed(ignored=1)  # under 18 seconds: nothing to bill
        if t.project_id is None:
            return Parsed([Incoming(event_id, "time.logged", {"entry_ref": ref}, at, error={
                "field": "payload.project_id", "message": "the time entry has no project, so no client to bill"})])
        return Parsed([Incoming(event_id, "time.logged" if e.metadata.action == "created" else "time.updated", {
            "entry_ref": ref, "client_ref": f"toggl:project:{t.project_id}",
            "person": f"toggl:user:{t.user_id}" if t.user_id else "toggl", "role": (t.tags or ["consultant"])[0],
            "date": t.start.astimezone(UTC).date().isoformat(), "hours": _hours(Decimal(t.duration) / 3600),
            "description": t.description or "", "billable": t.billable}, at)])


# ---- Harvest: time entries (Harvest has no webhooks: a relay polls its API and signs what changed) ------------------


class _Named(_M):
    id: int
    name: str


class HarvestEntry(_M):
    id: int
    spent_date: str
    hours: Decimal
    notes: str | None = ""
    billable: bool = True
    user: _Named
    client: _Named
    task: _Named
    updated_at: datetime | None = None


class Harvest(Source):
    """Harvest API v2 time entry objects, as a relay that polls Harvest (it has no webhooks) forwards them:
    Standard Webhooks signed, `{"type": "time_entry.created|updated|deleted", "data": <time entry>}`. The client is
    `harvest:client:<id>`, the person the user's name, the role the task's name."""

    name = "harvest"

    def verify(self, d: Delivery, secrets: Sequence[str], now: float, tolerance: int) -> None:
        sig.verify_standard_webhooks(d.headers, d.body, secrets, now, tolerance)

    def parse(self, d: Delivery) -> Parsed:
        msg_id = d.headers.get("webhook-id", "") or body_id(d.body)
        try:
            env = Envelope.model_validate(_json(d.body))
        except ValidationError as err:
            return Parsed([Incoming(msg_id, "time.logged", {}, error=_loc(err))])
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            return _unreadable(msg_id, d.body, f"the body is not JSON ({err})")
        kinds = {"time_entry.created": "time.logged", "time_entry.updated": "time.updated",
                 "time_entry.deleted": "time.deleted"}
        if env.type not in kinds:
            return Parsed(ignored=1)
        if env.type == "time_entry.deleted":
            if "id" not in env.data:
                return Parsed([Incoming(msg_id, "time.deleted", {},
                                        error={"field": "data.id", "message": "is required"})])
            return Parsed([Incoming(msg_id, "time.deleted", {"entry_ref": f"harvest:{env.data['id']}"},
                                    env.timestamp)])
        try:
            t = HarvestEntry.model_validate(env.data)
        except ValidationError as err:
            return Parsed([Incoming(msg_id, kinds[env.type], {}, error=_loc(err, "data."))])
        if env.data.get("is_running") or _hours(t.hours) == "0.00":
            return Parsed(ignored=1)  # a running timer (logged when it stops), or nothing to bill
        return Parsed([Incoming(msg_id, kinds[env.type], {
            "entry_ref": f"harvest:{t.id}", "client_ref": f"harvest:client:{t.client.id}", "person": t.user.name,
            "role": t.task.name, "date": t.spent_date, "hours": _hours(t.hours), "description": t.notes or "",
            "billable": t.billable}, t.updated_at or env.timestamp)])


# ---- QuickBooks Online: entity change notifications (the legacy envelope and the CloudEvents array) ---------------


QBO_ENTITIES = ("Payment", "Customer")  # what the inbound sync acts on; other entities are acknowledged and dropped
QBO_OPERATIONS = {"create": "Create", "created": "Create", "update": "Update", "updated": "Update",
                  "delete": "Delete", "deleted": "Delete", "void": "Void", "voided": "Void",
                  "merge": "Merge", "merged": "Merge", "emailed": "Emailed"}
_QboId = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9._:-]+$")]


class _QboEntity(_M):
    id: _QboId
    name: str = Field(min_length=1, max_length=40)
    operation: str = Field(min_length=1, max_length=20)
    lastUpdated: datetime | None = None


class _QboChange(_M):
    entities: list[_QboEntity] = Field(default_factory=list, max_length=1000)


class _QboNotification(_M):
    realmId: _QboId
    dataChangeEvent: _QboChange


class _QboLegacy(_M):
    eventNotifications: list[_QboNotification] = Field(max_length=1000)


class _QboCloudEvent(_M):
    specversion: str = Field(default="1.0", max_length=10)
    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=100, pattern=r"^qbo\.[a-z]+\.[a-z]+\.v\d+$")
    time: datetime | None = None
    intuitentityid: _QboId
    intuitaccountid: _QboId


def qbo_change(realm: str, entity: str, entity_id: str, operation: str, at: datetime | None,
               via: str) -> dict[str, Any]:
    """The canonical `accounting.changed` data for one QuickBooks entity change."""
    return {"provider": "quickbooks", "realm_id": realm, "entity": entity, "entity_id": entity_id,
            "operation": operation, "changed_at": at.isoformat() if at else None, "via": via}


class QuickBooks(Source):
    """QuickBooks Online webhooks: verified with the app's verifier token (`intuit-signature`), then each changed
    Payment or Customer becomes an `accounting.changed` event that the worker completes from the API (a
    notification names the entity, never its content). Both payload formats are read: the legacy
    `{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{id, name, operation, lastUpdated}]}}]}`
    and the CloudEvents array (`type` `qbo.payment.created.v1`, `intuitaccountid`, `intuitentityid`). The event id
    comes from the signed body (realm, entity, id, operation, time; a CloudEvent's own id), so a redelivery is a
    duplicate."""

    name = "quickbooks"

    def verify(self, d: Delivery, secrets: Sequence[str], now: float, tolerance: int) -> None:
        sig.verify_intuit(d.headers, d.body, secrets)

    def parse(self, d: Delivery) -> Parsed:
        try:
            raw = _json(d.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            return _unreadable(body_id(d.body), d.body, f"the body is not JSON ({err})")
        if isinstance(raw, list):
            return self._cloud(d, raw)
        try:
            legacy = _QboLegacy.model_validate(raw)
        except ValidationError as err:
            return Parsed([Incoming(body_id(d.body), "accounting.changed", {}, error=_loc(err))])
        out = Parsed()
        for n in legacy.eventNotifications:
            for e in n.dataChangeEvent.entities:
                op = QBO_OPERATIONS.get(e.operation.lower(), e.operation)
                if e.name not in QBO_ENTITIES:
                    out.ignored += 1
                    continue
                at = e.lastUpdated.isoformat() if e.lastUpdated else "-"
                out.items.append(Incoming(f"qbo:{n.realmId}:{e.name}:{e.id}:{op}:{at}", "accounting.changed",
                                          qbo_change(n.realmId, e.name, e.id, op, e.lastUpdated, "webhook"),
                                          e.lastUpdated))
        return out

    def _cloud(self, d: Delivery, raw: list[Any]) -> Parsed:
        out = Parsed()
        for i, item in enumerate(raw[:1000]):
            try:
                ce = _QboCloudEvent.model_validate(item)
            except ValidationError as err:
                eid = f"qbo:ce:{item.get('id')}" if isinstance(item, dict) and isinstance(item.get("id"), str) \
                    and 0 < len(item["id"]) <= 100 else f"{body_id(d.body)}:{i}"
                out.items.append(Incoming(eid, "accounting.changed", {}, error=_loc(err, f"{i}.")))
                continue
            _, noun, verb, _version = ce.type.split(".")
            entity = next((e for e in QBO_ENTITIES if e.lower() == noun), None)
            if entity is None:
                out.ignored += 1
                continue
            op = QBO_OPERATIONS.get(verb, verb.capitalize())
            out.items.append(Incoming(f"qbo:ce:{ce.id}", "accounting.changed",
                                      qbo_change(ce.intuitaccountid, entity, ce.intuitentityid, op, ce.time,
                                                 "webhook"), ce.time))
        return out


SOURCES: dict[str, Source] = {s.name: s for s in (Canonical(), HubSpot(), Jira(), Toggl(), Harvest(), QuickBooks())}

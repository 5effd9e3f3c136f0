"""`subscription.changed`: a seat count from a date, applied once as an amendment (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

from domain.services import contracts, invoicing
from domain.store.tables import ArrangementVersionRow
from tests.events.conftest import Events, at

CHANGE = {"client_ref": "acme", "product": "Managed EDR", "seats": 52, "effective_on": "2026-03-10"}


def _subscription(ev: Events) -> tuple[int, int]:
    cid = ev.client()
    a = ev.arrangement(cid, kind="subscription", product="Managed EDR", seats=48, unit_price="7.50",
                       starts_on="2026-01-01")
    return cid, a.id


def test_a_seat_change_event_amends_the_subscription_once(ev: Events) -> None:
    cid, aid = _subscription(ev)
    march = invoicing.draft_invoice(ev.db.uow(), ev.system, cid, date(2026, 3, 1), date(2026, 3, 31))
    ev.receive("subscription.changed", CHANGE, "s-1", at=at("2026-03-10T08:00:00"))
    ev.receive("subscription.changed", CHANGE, "s-1")  # redelivered: a duplicate
    ev.receive("subscription.changed", CHANGE, "s-2", at=at("2026-03-10T08:00:01"))  # sent twice by the portal
    ev.work()
    first = ev.event("billable", "s-1")
    assert first.status == "processed" and first.result["fact"]["version"] == 2
    assert first.result["fact"]["adjustments"] == ["21.29"]  # March was drafted at 48 seats
    assert ev.event("billable", "s-2").result["fact"]["change"] == "already in force"
    assert ev.count(ArrangementVersionRow) == 2
    versions = contracts.list_versions(ev.db.uow(), ev.system, cid, aid)
    assert [(v.number, v.terms["seats"] if v.terms else None) for v in versions.versions] == [(1, 48), (2, 52)]
    assert versions.adjustments[0].amount == "21.29" and march.subtotal == "360.00"


def test_a_seat_count_below_one_is_refused_naming_the_field(ev: Events) -> None:
    _subscription(ev)
    receipt = ev.receive("subscription.changed", {**CHANGE, "seats": 0}, "s-0")
    assert receipt.accepted == [] and receipt.rejected[0]["field"] == "data.seats"
    assert ev.count(ArrangementVersionRow) == 1


def test_an_unknown_product_is_rejected_with_the_reason(ev: Events) -> None:
    _subscription(ev)
    ev.receive("subscription.changed", {**CHANGE, "product": "Backup"}, "s-9")
    ev.work()
    row = ev.event("billable", "s-9")
    assert row.status in ("rejected", "dead") and "name the product" in row.reason
    assert ev.count(ArrangementVersionRow) == 1

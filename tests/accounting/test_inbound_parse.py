"""QuickBooks webhook payloads, both formats, into `accounting.changed` events; the `intuit-signature` check refuses
anything but our verifier token's HMAC (missing, wrong, malformed, non-ASCII) without raising anything else."""

from __future__ import annotations

import json

import pytest

from channels.webhooks import _signatures as sig
from channels.webhooks._sources import SOURCES, Delivery

TOKEN = "verifier-token-1"
QB = SOURCES["quickbooks"]


def delivery(payload: object, signature: str | None = None) -> Delivery:
    body = json.dumps(payload).encode()
    headers = {"intuit-signature": signature if signature is not None else sig.intuit_sign(TOKEN, body)}
    return Delivery("POST", "https://billing.example/webhooks/quickbooks", headers, body)


LEGACY = {"eventNotifications": [{"realmId": "9341453000000001", "dataChangeEvent": {"entities": [
    {"id": "130", "operation": "Create", "name": "Payment", "lastUpdated": "2026-04-01T09:30:00.000Z"},
    {"id": "58", "operation": "Update", "name": "Customer", "lastUpdated": "2026-04-01T09:31:00-07:00"},
    {"id": "7", "operation": "Create", "name": "Account", "lastUpdated": "2026-04-01T09:31:00Z"}]}}]}
CLOUD = [{"specversion": "1.0", "id": "88cd52aa-33b6-4351-9aa4-47572edbd068", "source": "intuit.x",
          "type": "qbo.payment.created.v1", "datacontenttype": "application/json",
          "time": "2026-04-01T09:30:00.179851Z", "intuitentityid": "130", "intuitaccountid": "9341453000000001",
          "data": {}},
         {"specversion": "1.0", "id": "e2", "source": "intuit.x", "type": "qbo.invoice.updated.v1",
          "time": "2026-04-01T09:30:00Z", "intuitentityid": "9", "intuitaccountid": "9341453000000001"}]


def test_both_formats_become_the_same_kind_of_event() -> None:
    legacy, cloud = QB.parse(delivery(LEGACY)), QB.parse(delivery(CLOUD))
    assert (legacy.ignored, cloud.ignored) == (1, 1)   # an Account, an Invoice: nothing the inbound sync acts on
    pay = legacy.items[0]
    assert pay.type == "accounting.changed" and pay.error is None
    assert pay.data == {"provider": "quickbooks", "realm_id": "9341453000000001", "entity": "Payment",
                        "entity_id": "130", "operation": "Create", "changed_at": "2026-04-01T09:30:00+00:00",
                        "via": "webhook"}
    assert legacy.items[1].data["entity"] == "Customer" and legacy.items[1].data["operation"] == "Update"
    (ce,) = cloud.items
    assert ce.event_id == "qbo:ce:88cd52aa-33b6-4351-9aa4-47572edbd068"
    assert {k: ce.data[k] for k in ("entity", "entity_id", "operation", "realm_id")} == {
        "entity": "Payment", "entity_id": "130", "operation": "Create", "realm_id": "9341453000000001"}
    # the same delivery again has the same ids: a redelivery is a duplicate
    assert [i.event_id for i in QB.parse(delivery(LEGACY)).items] == [i.event_id for i in legacy.items]


def test_authentic_but_unreadable_bodies_are_rejected_naming_the_field() -> None:
    bad = QB.parse(delivery({"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": [
        {"id": "1", "name": "Payment"}]}}]}))
    assert bad.items[0].error is not None and "operation" in bad.items[0].error["field"]
    cloud = QB.parse(delivery([{"id": "x1", "type": "not-a-qbo-type", "intuitentityid": "1",
                                "intuitaccountid": "2"}]))
    assert cloud.items[0].event_id == "qbo:ce:x1" and cloud.items[0].error["field"] == "0.type"  # type: ignore[index]
    assert QB.parse(Delivery("POST", "", {}, b"\xff not json")).items[0].error is not None


@pytest.mark.parametrize("signature", ["", "bm9wZQ==", "zß∂√ non-ascii ✓", "=" * 500, "\x00\x01"])
def test_a_wrong_or_malformed_signature_is_refused_as_a_signature_error(signature: str) -> None:
    d = delivery(LEGACY, signature)
    with pytest.raises(sig.SignatureError) as e:
        QB.verify(d, [TOKEN], 0, 300)
    assert e.value.field == "intuit-signature"


def test_the_right_signature_passes_and_another_token_does_not() -> None:
    d = delivery(CLOUD)
    QB.verify(d, [TOKEN], 0, 300)
    with pytest.raises(sig.SignatureError):
        QB.verify(d, ["another-token"], 0, 300)

"""The local QuickBooks Online speaks what the sync relies on, through our real client over a real socket: OAuth with
intuit-oauth, entities, sparse updates with SyncToken (5010), void, queries, batch, CDC, requestid replay, the limits
and injected faults, signed webhooks. (No database here: the fake and the client only.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from channels.accounting.quickbooks import (
    AuthFailed,
    Fault,
    OAuthError,
    QuickBooksAuth,
    RateLimited,
    ServerError,
    StaleObject,
    Throttle,
    dumps,
    fault_of,
)
from domain.settings import Settings
from tests.accounting.helpers import api, consent, tokens
from tests.fakes.quickbooks import REALM, FakeQuickBooks


def _customer_and_item(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    cust = client.create("Customer", {"DisplayName": "Nordwerk GmbH"}, request_id="c1")
    item = client.create("Item", {"Name": "Retainer", "Type": "Service", "IncomeAccountRef": {"value": "1"}})
    return cust, item


def _invoice(cust: dict[str, Any], item: dict[str, Any], doc: str = "INV-2026-000001") -> dict[str, Any]:
    return {"DocNumber": doc, "CustomerRef": {"value": cust["Id"]}, "TxnTaxDetail": {"TotalTax": Decimal("190.00")},
            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": Decimal("1000.00"), "Description": "March",
                      "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": Decimal("2"),
                                              "UnitPrice": Decimal("500.00"), "TaxCodeRef": {"value": "TAX"}}}]}


def test_oauth_with_intuit_oauth_code_refresh_revoke(qbo: FakeQuickBooks, qbo_settings: Settings,
        qbo_http: httpx.Client) -> None:
    auth = QuickBooksAuth(qbo_settings)
    url = auth.authorization_url("state-1")
    assert url.startswith(qbo.root + "/oauth2/v1/authorize?") and "com.intuit.quickbooks.accounting" in url
    q = consent(url)
    assert q["state"] == "state-1" and q["realmId"] == REALM
    t = auth.exchange(q["code"], q["realmId"])
    assert t.access_token and t.refresh_token and t.expires_in == 3600 and t.refresh_expires_in == 8726400
    with pytest.raises(OAuthError):  # a code is good once
        auth.exchange(q["code"], q["realmId"])
    t2 = auth.refresh(t.refresh_token)
    assert t2.access_token != t.access_token
    qbo.fail_refresh = True
    with pytest.raises(OAuthError, match="invalid_grant"):
        auth.refresh(t2.refresh_token)
    qbo.fail_refresh = False
    assert auth.revoke(t2.refresh_token)
    with pytest.raises(OAuthError):  # the whole grant is gone
        auth.refresh(t2.refresh_token)


def test_entities_sparse_update_stale_void_query(qbo: FakeQuickBooks, qbo_settings: Settings,
        qbo_http: httpx.Client) -> None:
    client = api(qbo_settings, qbo_http)
    assert client.company_info()["CompanyName"] == "Nordlicht Books Ltd"
    cust, item = _customer_and_item(client)
    with pytest.raises(Fault) as dup:
        client.create("Customer", {"DisplayName": "Nordwerk GmbH"})
    assert dup.value.code == "6240"
    inv = client.create("Invoice", _invoice(cust, item))
    assert inv["TotalAmt"] == Decimal("1190.00") and inv["Balance"] == Decimal("1190.00")
    assert isinstance(inv["TotalAmt"], Decimal)  # parsed without a float
    again = client.create("Invoice", _invoice(cust, item))  # QuickBooks allows a duplicate DocNumber by default
    assert len(client.find("Invoice", "DocNumber", "INV-2026-000001")) == 2 and again["Id"] != inv["Id"]
    assert client.find("Invoice", "DocNumber", "nope") == []
    assert client.find("Customer", "DisplayName", "Nordwerk GmbH")[0]["Id"] == cust["Id"]
    with pytest.raises(Fault) as long:
        client.create("Invoice", _invoice(cust, item, doc="X" * 22))
    assert long.value.code == "2050"
    bad = _invoice(cust, item)
    bad["Line"][0]["Amount"] = Decimal("999.99")
    with pytest.raises(Fault) as calc:
        client.create("Invoice", bad)
    assert calc.value.code == "6070"
    updated = client.update("Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"],
                                         "PrimaryEmailAddr": {"Address": "ap@nordwerk.example"}})
    assert updated["SyncToken"] == "1" and updated["DisplayName"] == "Nordwerk GmbH"  # sparse: the rest kept
    with pytest.raises(StaleObject):
        client.update("Customer", {"Id": cust["Id"], "SyncToken": "0", "Notes": "old token"})
    qbo.fail_next_update_stale = 1
    with pytest.raises(StaleObject):
        client.void_invoice(inv["Id"], inv["SyncToken"])
    fresh = client.read("Invoice", inv["Id"])
    voided = client.void_invoice(fresh["Id"], fresh["SyncToken"])
    assert voided["TotalAmt"] == 0 and voided["Balance"] == 0 and voided["PrivateNote"] == "Voided"


def test_requestid_replays_the_first_answer(qbo: FakeQuickBooks, qbo_settings: Settings,
        qbo_http: httpx.Client) -> None:
    client = api(qbo_settings, qbo_http)
    first = client.create("Customer", {"DisplayName": "Van Dijk BV"}, request_id="rid-1")
    second = client.create("Customer", {"DisplayName": "Van Dijk BV"}, request_id="rid-1")
    assert first["Id"] == second["Id"] and len(qbo.find("Customer", DisplayName="Van Dijk BV")) == 1


def test_batch_cdc_payment_made_in_quickbooks(qbo: FakeQuickBooks, qbo_settings: Settings,
        qbo_http: httpx.Client) -> None:
    client = api(qbo_settings, qbo_http)
    cust, item = _customer_and_item(client)
    items = [{"bId": str(i), "operation": "create", "Invoice": _invoice(cust, item, f"INV-{i}")} for i in range(29)]
    items.append({"bId": "q", "Query": "select * from Customer where DisplayName = 'Nordwerk GmbH'"})
    out = client.batch(items, request_id="batch-1")
    assert len(out) == 30 and all(fault_of(o) is None for o in out)
    assert out[-1]["QueryResponse"]["Customer"][0]["Id"] == cust["Id"]
    with pytest.raises(Fault):  # 31 payloads: over the batch limit
        client.batch([{"bId": str(i), "Query": "select * from Item"} for i in range(31)])
    bad = client.batch([{"bId": "x", "operation": "create", "Invoice": {"CustomerRef": {"value": "999"}}}])
    assert fault_of(bad[0]) is not None and fault_of(bad[0]).code == "2500"  # type: ignore[union-attr]
    inv = out[0]["Invoice"]
    pay = qbo.make_payment(inv["Id"], "500.00", ref="BANK-1")
    assert client.read("Invoice", inv["Id"])["Balance"] == Decimal("690.00")
    changed = client.cdc(["Payment", "Invoice"], "2026-01-01T00:00:00Z" if False else _recent())
    assert [p["Id"] for p in changed["Payment"]] == [pay["Id"]]
    assert inv["Id"] in {i["Id"] for i in changed["Invoice"]}
    assert client.query("select count(*) from Invoice")["totalCount"] == 29


def test_payments_move_the_balance_both_ways_and_are_notified(qbo: FakeQuickBooks, qbo_settings: Settings,
        qbo_http: httpx.Client) -> None:
    client = api(qbo_settings, qbo_http)
    cust, item = _customer_and_item(client)
    inv = client.create("Invoice", _invoice(cust, item))
    qbo.pending_notifications()   # what came before is not this test's
    body = {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": Decimal("300.00"), "TxnDate": "2026-04-02",
            "Line": [{"Amount": Decimal("300.00"), "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]}
    pay = client.create("Payment", body, request_id="p1")
    assert client.read("Invoice", inv["Id"])["Balance"] == Decimal("890.00")
    found = client.query(f"select * from Payment where CustomerRef = '{cust['Id']}' and TxnDate = '2026-04-02'")
    assert [p["Id"] for p in found["Payment"]] == [pay["Id"]]
    pay = client.update("Payment", {"Id": pay["Id"], "SyncToken": pay["SyncToken"], "TotalAmt": Decimal("100.00"),
                                    "Line": [{"Amount": Decimal("100.00"), "LinkedTxn": body["Line"][0]["LinkedTxn"]}]})
    assert client.read("Invoice", inv["Id"])["Balance"] == Decimal("1090.00")   # edited: re-applied
    with pytest.raises(Fault):   # refused (applies more than it is worth): nothing moves
        client.update("Payment", {"Id": pay["Id"], "SyncToken": pay["SyncToken"], "TotalAmt": Decimal("1.00")})
    assert client.read("Invoice", inv["Id"])["Balance"] == Decimal("1090.00")
    client.request("POST", "payment", params={"operation": "delete"},
                   body={"Id": pay["Id"], "SyncToken": pay["SyncToken"]})
    assert client.read("Invoice", inv["Id"])["Balance"] == Decimal("1190.00")   # deleted: open again
    with pytest.raises(Fault) as e:   # linked to an invoice that does not exist, or applying more than it is
        client.create("Payment", {**body, "Line": [{"Amount": Decimal("1"), "LinkedTxn": [{"TxnId": "999",
                                                                                           "TxnType": "Invoice"}]}]})
    assert e.value.code == "2500"
    with pytest.raises(Fault):
        client.create("Payment", {**body, "TotalAmt": Decimal("1.00")})
    assert qbo.pending_notifications() == [("Payment", pay["Id"], "Create"), ("Payment", pay["Id"], "Update"),
                                           ("Payment", pay["Id"], "Delete")]
    assert qbo.pending_notifications() == []
    qbo.lose_next_replies = 1   # written, the answer lost: a 500, and the payment is there all the same
    with pytest.raises(ServerError):
        client.create("Payment", body)
    assert len(qbo.all("Payment")) == 1


def _recent() -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=5)).isoformat()


def test_limits_and_injected_faults(qbo: FakeQuickBooks, qbo_settings: Settings,
        qbo_http: httpx.Client) -> None:
    client = api(qbo_settings, qbo_http)
    qbo.inject(429, retry_after=7)
    with pytest.raises(RateLimited) as rl:
        client.company_info()
    assert rl.value.retry_after == 7.0
    qbo.inject(503)
    with pytest.raises(ServerError):
        client.company_info()
    # Without our throttle the 11th call in a second is refused, as QuickBooks refuses it.
    loose = api(qbo_settings, qbo_http, throttle=Throttle(per_second=1000, per_minute=100000))
    qbo.company().calls.clear()
    statuses = []
    for _ in range(12):
        try:
            loose.company_info()
            statuses.append(200)
        except RateLimited:
            statuses.append(429)
    assert statuses.count(429) >= 1 and statuses[:10] == [200] * 10
    # Our throttle keeps under it: twelve calls, no 429 (it waits instead).
    qbo.company().calls.clear()
    t = Throttle()
    fair = api(qbo_settings, qbo_http, throttle=t)
    qbo.company().calls.clear()
    for _ in range(12):
        fair.company_info()
    assert t.waited > 0
    qbo.expire_access_tokens()
    with pytest.raises(AuthFailed):
        fair.company_info()


def test_minorversion_below_75_is_refused(qbo: FakeQuickBooks, qbo_settings: Settings,
        qbo_http: httpx.Client) -> None:
    client = api(qbo_settings, qbo_http)
    client.minor_version = 65
    with pytest.raises(Fault, match="75"):
        client.company_info()


def test_decimal_json_keeps_digits() -> None:
    assert dumps({"a": Decimal("1234567890123.10"), "b": [Decimal("-0.05")]}) == \
        '{"a": 1234567890123.10, "b": [-0.05]}'


def test_signed_webhooks_both_formats(qbo: FakeQuickBooks) -> None:
    got: list[tuple[bytes, str, str]] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((body, self.headers["intuit-signature"], self.headers["Content-Type"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        assert qbo.send_webhook(url, [("Payment", "42", "Create")]).status_code == 200
        assert qbo.send_webhook(url, [("Invoice", "7", "Update")], style="cloudevents").status_code == 200
    finally:
        server.shutdown()
        server.server_close()
    legacy, cloud = json.loads(got[0][0]), json.loads(got[1][0])
    for body, sig, _ in got:
        expected = base64.b64encode(hmac.new(qbo.verifier_token.encode(), body, hashlib.sha256).digest()).decode()
        assert sig == expected
    entity = legacy["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
    assert legacy["eventNotifications"][0]["realmId"] == REALM and entity["name"] == "Payment" and entity["id"] == "42"
    assert cloud[0]["type"] == "qbo.invoice.updated.v1" and cloud[0]["intuitentityid"] == "7"
    assert cloud[0]["intuitaccountid"] == REALM and got[1][2] == "application/cloudevents-batch+json"


def test_tokens_are_for_one_company(qbo: FakeQuickBooks, qbo_settings: Settings,
        qbo_http: httpx.Client) -> None:
    qbo.add_company("123456", "Other Co")
    t = tokens(qbo_settings)
    from channels.accounting.quickbooks import QuickBooksApi

    other = QuickBooksApi(qbo_settings.quickbooks_base_url(), "123456", t.access_token, http=qbo_http,
                          throttle=Throttle())
    with pytest.raises(AuthFailed):
        other.company_info()

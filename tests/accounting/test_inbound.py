"""QuickBooks, inbound, on SQLite and PostgreSQL, against the local QuickBooks over real HTTP: a signed webhook
records the payment made there once (however often it is redelivered, in either format); a bad signature is 401;
a lost webhook is caught up by CDC (and found again by CDC or a late webhook, still once); what does not fit is
parked; a customer changed there is proposed, then accepted or refused; nothing changes silently."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from domain.errors import BadTransition, Forbidden
from domain.services import accounting_inbound, clients, invoicing, payments_parked
from domain.store.tables import AccountingConnectionRow, AccountingPaymentInRow, EventRow, PaymentRow
from tests.accounting.inbound_support import Books, books, count, hook_url
from tests.fakes.quickbooks import REALM
from tests.support.fixtures import api_server, server

__all__ = ["api_server", "books", "hook_url", "server"]


def test_a_signed_webhook_records_the_payment_once_however_often_it_comes(books: Books, hook_url: str) -> None:
    inv = books.issued()
    remote = books.push(inv)
    pay = books.fake.make_payment(remote["Id"], "500.00", ref="WIRE-77")
    body = books.fake.webhook_body([("Payment", pay["Id"], "Create")])
    for _ in range(3):   # delivered, then redelivered twice (Intuit retries when our 200 is late): the same bytes
        r = httpx.post(hook_url, content=body, headers={"intuit-signature": books.fake.sign(body)})
        assert r.status_code == 200, r.text
    assert count(books, EventRow, source="quickbooks") == 1
    assert count(books, PaymentRow) == 0   # answered at once: stored and queued, processed by the worker
    books.run()
    assert count(books, PaymentRow, invoice_id=inv) == 1
    assert Decimal(books.balance(inv)) == Decimal(remote["TotalAmt"]) - 500
    with books.db.uow() as uow:
        (row,) = uow.session.execute(select(AccountingPaymentInRow)).scalars()
        assert (row.external_id, row.outcome, row.realm_id) == (pay["Id"], "recorded", REALM)
    # the same payment again, in the CloudEvents format and as an update: still recorded once
    books.fake.send_webhook(hook_url, [("Payment", pay["Id"], "Update")], style="cloudevents")
    books.run()
    assert count(books, PaymentRow, invoice_id=inv) == 1
    with books.db.uow() as uow:
        ev = uow.events.list(None, "quickbooks", limit=10)
        assert {e.status for e in ev} == {"processed"}
        assert any(e.result.get("fact", {}).get("already") == "recorded" for e in ev)
    # another company the Intuit app is connected to elsewhere: acknowledged, nothing read, nothing recorded
    r = books.fake.send_webhook(hook_url, [("Payment", pay["Id"], "Create")], realm="4620816365000000")
    assert r.status_code == 200
    books.run()
    assert count(books, PaymentRow, invoice_id=inv) == 1
    with books.db.uow() as uow:
        (other,) = [e for e in uow.events.list(None, "quickbooks", limit=10)
                    if e.data["realm_id"] == "4620816365000000"]
        assert other.status == "processed" and "not the one connected" in other.result["fact"]["note"]


def test_a_bad_signature_is_401_and_nothing_is_stored(books: Books, hook_url: str) -> None:
    body = books.fake.webhook_body([("Payment", "1", "Create")])
    for signature in (b"wrong", b"bm90IGl0", "ünïcødé-sig".encode(), b"=" * 300, books.fake.sign(body)[:-2].encode()):
        r = httpx.post(hook_url, content=body, headers={b"intuit-signature": signature,
                                                        b"content-type": b"application/json"})
        assert r.status_code == 401, (signature, r.text)
        assert r.json()["field"] == "intuit-signature"
    assert httpx.post(hook_url, content=body).status_code == 401   # none at all
    wrong_token = books.fake.send_webhook(hook_url, [("Payment", "1", "Create")], token="not-our-token")
    assert wrong_token.status_code == 401
    assert count(books, EventRow) == 0


def test_a_lost_webhook_is_caught_up_by_cdc_once(books: Books, hook_url: str) -> None:
    inv = books.issued()
    remote = books.push(inv)
    pay = books.fake.make_payment(remote["Id"], remote["TotalAmt"])   # paid in full there; the webhook is lost
    inbound = books.worker().inbound
    report = inbound.catch_up(force=True)
    assert report is not None and report.queued >= 1 and not report.gap
    books.run()
    assert books.world.call(invoicing.get_invoice, books.system, inv).status == "paid"
    again = inbound.catch_up(force=True)   # the cursor overlaps a little: found again, stored once
    assert again is not None and again.queued == 0
    books.fake.send_webhook(hook_url, [("Payment", pay["Id"], "Create")])   # and the webhook arrives after all
    books.run()
    assert count(books, PaymentRow, invoice_id=inv) == 1 and count(books, AccountingPaymentInRow) == 1
    with books.db.uow() as uow:
        cursor = uow.session.execute(select(AccountingConnectionRow.cdc_cursor)).scalar_one()
    assert cursor is not None and cursor > books.reader().now() - timedelta(days=30)


def test_what_does_not_fit_is_parked_for_a_person(books: Books, hook_url: str) -> None:
    inv = books.issued()
    remote = books.push(inv)
    unlinked = books.api.create("Payment", {"CustomerRef": {"value": books.customer_id},
                                            "TotalAmt": Decimal("75.00"), "Line": []})
    over = books.fake.make_payment(remote["Id"], Decimal(str(remote["TotalAmt"])) + 10)
    books.fake.send_webhook(hook_url, [("Payment", unlinked["Id"], "Create"), ("Payment", over["Id"], "Create")])
    books.run()
    assert count(books, PaymentRow) == 0
    parked = payments_parked.list_parked(books.db.uow(), books.world.actor("finance"))
    assert sorted((p.reason, Decimal(p.amount)) for p in parked) == [
        ("exceeds_balance", Decimal(str(remote["TotalAmt"])) + 10), ("unknown_invoice", Decimal("75.00"))]
    assert all("QuickBooks payment" in p.reference for p in parked)
    books.fake.send_webhook(hook_url, [("Payment", unlinked["Id"], "Update")], style="cloudevents")
    books.run()
    assert len(payments_parked.list_parked(books.db.uow(), books.world.actor("finance"))) == 2   # parked once


def test_a_customer_changed_there_is_proposed_then_accepted_or_refused(books: Books, hook_url: str) -> None:
    cust = books.api.read("Customer", books.customer_id)
    books.api.update("Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"],
                                  "PrimaryEmailAddr": {"Address": "billing@initech.example"},
                                  "BillAddr": {"Line1": "Neue Straße 9", "PostalCode": "10117", "City": "Berlin",
                                               "Country": "DE"}})
    books.fake.send_webhook(hook_url, [("Customer", cust["Id"], "Update")])
    books.run()
    finance = books.world.actor("finance")
    (prop,) = accounting_inbound.list_proposals(books.db.uow(), finance)
    assert prop.client_id == books.client_id and set(prop.changes) == {"email", "street", "postcode"}
    assert prop.changes["street"] == {"ours": "Alte Straße 1", "theirs": "Neue Straße 9"}
    client = books.world.call(clients.get_client, finance, books.client_id)
    assert client.billing_emails == ["ap@client.example"]   # nothing changed silently
    with pytest.raises(Forbidden):
        accounting_inbound.accept_proposal(books.db.uow(), books.world.actor("viewer"), prop.id)
    with pytest.raises(Forbidden):   # a person decides, never the system
        accounting_inbound.accept_proposal(books.db.uow(), books.system, prop.id)
    done = accounting_inbound.accept_proposal(books.db.uow(), finance, prop.id)
    assert done.status == "accepted"
    client = books.world.call(clients.get_client, finance, books.client_id)
    assert client.billing_emails == ["billing@initech.example"] and client.address.street == "Neue Straße 9"
    with pytest.raises(BadTransition):
        accounting_inbound.refuse_proposal(books.db.uow(), finance, prop.id)
    # the same customer again: matches ours now, nothing proposed; another change there: refused, ours stays
    books.fake.send_webhook(hook_url, [("Customer", cust["Id"], "Update")], style="cloudevents")
    books.run()
    assert accounting_inbound.list_proposals(books.db.uow(), finance) == []
    cust = books.api.read("Customer", books.customer_id)
    books.api.update("Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "CompanyName": "Initrode AG"})
    books.fake.send_webhook(hook_url, [("Customer", cust["Id"], "Update")])
    books.run()
    (prop2,) = accounting_inbound.list_proposals(books.db.uow(), finance)
    assert prop2.changes == {"name": {"ours": "Initech GmbH", "theirs": "Initrode AG"}}
    refused = accounting_inbound.refuse_proposal(books.db.uow(), finance, prop2.id, "they misspelt it")
    assert refused.status == "refused" and refused.note == "they misspelt it"
    assert books.world.call(clients.get_client, finance, books.client_id).name == "Initech GmbH"
    actions = books.world.audit_actions("client_update_proposal")
    assert {"client.update_proposed", "client.update_accepted", "client.update_refused"} <= set(actions)

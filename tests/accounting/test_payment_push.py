"""Payments recorded in billable go to QuickBooks, on SQLite and PostgreSQL, against the local QuickBooks over real
HTTP: each becomes one Payment linked to the invoice (whose Balance drops there), part payments too; its echo (the
webhook QuickBooks sends for it, the catch-up that finds it again) records nothing here; a payment made in QuickBooks
is recorded here once and never pushed back (nor when a person applies it from Payments parked); a 429, a 5xx or a
lost answer during the push still leaves exactly one Payment; the drift report shows a queued payment as queued and
a refused one as a cause a re-push fixes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.accounting.sync import QuickBooksSync
from domain.model import accounting as acc
from domain.model.accounting_drift import Action, Cause
from domain.services import accounting, accounting_drift, invoicing, payments_parked
from domain.store.tables import AccountingMappingRow, AccountingPaymentInRow, AccountingQueueRow, PaymentRow
from tests.accounting.inbound_support import Books, books, count, hook_url
from tests.support.fixtures import api_server, server

__all__ = ["api_server", "books", "hook_url", "server"]

PAID_ON = date(2025, 4, 2)


@pytest.fixture
def pusher(books: Books) -> QuickBooksSync:
    return QuickBooksSync(books.db, books.settings, name="test", http=books.http, throttle=books.throttle)


def pushed_invoice(books: Books, pusher: QuickBooksSync) -> tuple[int, dict[str, Any]]:
    """An invoice issued here and pushed by the sync: ours and theirs."""
    inv = books.issued()
    pusher.run_until_idle()
    m = accounting.get_mapping(books.db.uow(), "invoice", inv)
    assert m is not None
    return inv, books.fake.get("Invoice", m.remote_id)


def pay(books: Books, invoice_id: int, amount: object, reference: str = "") -> int:
    """Record a payment as finance does (HTTP, CLI, agent: the same service); the new payment's id."""
    invoicing.record_payment(books.db.uow(), books.world.actor("finance"), invoice_id, amount, PAID_ON, reference)
    with books.db.uow() as uow:
        return int(uow.session.execute(select(func.max(PaymentRow.id))).scalar_one())


def later(books: Books) -> None:
    """A minute on: whatever the queue's head waits for (a 429's Retry-After, a backoff) has passed."""
    clock = books.db.clock
    clock.set(clock.now() + timedelta(minutes=1))  # type: ignore[attr-defined]


def payment_tasks(books: Books) -> list[tuple[int, str]]:
    with books.db.uow() as uow:
        return [(int(r), str(s)) for r, s in uow.session.execute(
            select(AccountingQueueRow.ref_id, AccountingQueueRow.status).where(
                AccountingQueueRow.subject == "payment").order_by(AccountingQueueRow.id)).all()]


def test_a_payment_recorded_here_is_one_payment_there_linked_to_the_invoice(books: Books,
                                                                          pusher: QuickBooksSync) -> None:
    inv, there = pushed_invoice(books, pusher)
    total = Decimal(str(there["TotalAmt"]))
    first = pay(books, inv, "400.00", "WIRE-2025-04-0001-LONGER-THAN-21")
    assert payment_tasks(books) == [(first, "pending")]   # queued with the payment, in its transaction
    assert pusher.run_until_idle() == 1
    [p] = books.fake.all("Payment")
    assert Decimal(str(p["TotalAmt"])) == Decimal("400.00") and p["TxnDate"] == PAID_ON.isoformat()
    assert p["CustomerRef"]["value"] == there["CustomerRef"]["value"] == books.customer_id
    assert [(Decimal(str(ln["Amount"])), ln["LinkedTxn"]) for ln in p["Line"]] == [
        (Decimal("400.00"), [{"TxnId": there["Id"], "TxnType": "Invoice"}])]
    assert p["PaymentRefNum"] == "WIRE-2025-04-0001-LON"   # cut to what QuickBooks takes
    assert Decimal(str(books.fake.get("Invoice", there["Id"])["Balance"])) == total - 400
    m = accounting.get_mapping(books.db.uow(), "payment", first)
    assert m is not None and m.remote_id == p["Id"] and m.remote_status == ""
    creates = books.fake.api_calls("POST", "/payment")
    assert len(creates) == 1 and str(creates[0].request_id).endswith(f"pay{first}")

    # the rest, in a second part payment: a second Payment; the invoice is paid there too
    rest = pay(books, inv, format(total - 400, "f"))
    assert pusher.run_until_idle() == 1
    assert sorted(Decimal(str(p["TotalAmt"])) for p in books.fake.all("Payment")) == sorted(
        [Decimal("400.00"), total - 400])
    assert Decimal(str(books.fake.get("Invoice", there["Id"])["Balance"])) == 0
    assert books.world.call(invoicing.get_invoice, books.system, inv).status == "paid"
    assert payment_tasks(books) == [(first, "done"), (rest, "done")]
    assert pusher.run_until_idle() == 0 and len(books.fake.api_calls("POST", "/payment")) == 2
    report = accounting_drift.drift_report(books.db.uow(), books.world.actor("finance"), books.reader())
    assert (report.items, report.pending_push) == ([], 0)


def test_our_payment_coming_back_by_webhook_or_catch_up_records_nothing(books: Books, pusher: QuickBooksSync,
                                                                       hook_url: str) -> None:
    inv, _there = pushed_invoice(books, pusher)
    mine = pay(books, inv, "300.00")
    pusher.run_until_idle()
    books.fake.notify(hook_url)   # QuickBooks notifies what our API calls changed too: the Payment we created
    books.run()
    assert count(books, PaymentRow, invoice_id=inv) == 1
    assert books.world.call(invoicing.get_invoice, books.system, inv).paid == "300.00"
    [pid] = [p["Id"] for p in books.fake.all("Payment")]
    with books.db.uow() as uow:
        (row,) = uow.session.execute(select(AccountingPaymentInRow)).scalars()
        assert (row.external_id, row.outcome, row.parked_payment_id) == (pid, "ours", None)
    inbound = books.worker().inbound
    assert inbound.catch_up(force=True) is not None   # CDC finds it again: still nothing recorded
    books.run()
    assert count(books, PaymentRow, invoice_id=inv) == 1 and count(books, AccountingPaymentInRow) == 1

    # the webhook can come before the push has recorded what it did (or after it was killed there): the note on the
    # Payment says it is ours, and the mapping it writes lets the push finish without a second one
    second = pay(books, inv, "100.00")
    pusher.run_until_idle()
    with books.db.uow() as uow:
        uow.session.execute(AccountingMappingRow.__table__.delete().where(
            AccountingMappingRow.kind == "payment", AccountingMappingRow.local_id == second))
        uow.session.execute(AccountingQueueRow.__table__.update().where(
            AccountingQueueRow.subject == "payment", AccountingQueueRow.ref_id == second).values(status="pending"))
        uow.commit()
    books.fake.notify(hook_url)
    books.run()
    assert count(books, PaymentRow, invoice_id=inv) == 2
    assert books.world.call(invoicing.get_invoice, books.system, inv).paid == "400.00"
    m = accounting.get_mapping(books.db.uow(), "payment", second)
    assert m is not None
    pusher.run_until_idle()
    assert len(books.fake.all("Payment")) == 2 and payment_tasks(books) == [(mine, "done"), (second, "done")]


def test_a_payment_made_in_quickbooks_is_recorded_once_and_never_pushed_back(books: Books, pusher: QuickBooksSync,
                                                                            hook_url: str) -> None:
    inv, there = pushed_invoice(books, pusher)
    theirs = books.fake.make_payment(there["Id"], "250.00", ref="CHK-9")
    books.fake.notify(hook_url)
    books.run()
    assert count(books, PaymentRow, invoice_id=inv) == 1
    with books.db.uow() as uow:
        (m,) = uow.session.execute(select(AccountingMappingRow).where(AccountingMappingRow.kind == "payment")).scalars()
        assert (m.remote_id, m.remote_status) == (theirs["Id"], acc.THEIRS)
    assert payment_tasks(books) == []   # nothing queued to send it back
    pusher.run_until_idle()
    assert [p["Id"] for p in books.fake.all("Payment")] == [theirs["Id"]]
    assert books.fake.api_calls("POST", "/payment") == []

    # more than the balance: parked; a person applies part of it here: still not pushed (it is there already)
    over = books.fake.make_payment(there["Id"], Decimal(str(there["TotalAmt"])), ref="CHK-10")
    books.fake.notify(hook_url)
    books.run()
    [parked] = payments_parked.list_parked(books.db.uow(), books.world.actor("finance"))
    payments_parked.apply_parked(books.db.uow(), books.world.actor("finance"), parked.id, inv, "100.00")
    assert count(books, PaymentRow, invoice_id=inv) == 2 and payment_tasks(books) == []
    pusher.run_until_idle()
    assert sorted(p["Id"] for p in books.fake.all("Payment")) == sorted([theirs["Id"], over["Id"]])


def test_429_5xx_and_a_lost_answer_still_end_with_exactly_one_payment(books: Books,
                                                                     pusher: QuickBooksSync) -> None:
    inv, there = pushed_invoice(books, pusher)
    first = pay(books, inv, "150.00")
    books.fake.inject(429, retry_after=30)
    assert pusher.run_once() == 0
    books.fake.inject(503)
    later(books)
    assert pusher.run_once() == 0
    with books.db.uow() as uow:
        task = uow.session.execute(select(AccountingQueueRow).where(AccountingQueueRow.subject == "payment")
                                   ).scalar_one()
        assert (task.status, task.attempts) == ("pending", 2) and "503" in task.last_error
    later(books)
    assert pusher.run_until_idle() == 1
    assert len(books.fake.all("Payment")) == 1
    # QuickBooks wrote it, but its answer was lost (a 500 came back): the retry carries a new requestid, and the
    # look-up by our note finds the one already there instead of making a second
    second = pay(books, inv, "50.00")
    books.fake.lose_next_replies = 1
    assert pusher.run_once() == 0
    assert len(books.fake.all("Payment")) == 2
    later(books)
    assert pusher.run_until_idle() == 1
    assert sorted(Decimal(str(p["TotalAmt"])) for p in books.fake.all("Payment")) == [Decimal("50.00"),
                                                                                      Decimal("150.00")]
    assert payment_tasks(books) == [(first, "done"), (second, "done")]
    assert Decimal(str(books.fake.get("Invoice", there["Id"])["Balance"])) == Decimal(str(there["TotalAmt"])) - 200


def test_drift_a_queued_payment_is_queued_a_refused_one_is_re_pushed(books: Books, pusher: QuickBooksSync) -> None:
    finance = books.world.actor("finance")
    inv, there = pushed_invoice(books, pusher)
    mine = pay(books, inv, "200.00")
    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    assert (report.items, report.pending_push) == ([], 1)   # its payment is on its way: queued, not a difference
    # QuickBooks refuses it (its invoice was deleted there meanwhile, say): the task is dead, the drift names it
    books.api.request("POST", "invoice", params={"operation": "delete"},
                      body={"Id": there["Id"], "SyncToken": books.fake.get("Invoice", there["Id"])["SyncToken"]})
    pusher.run_until_idle()
    assert payment_tasks(books) == [(mine, "dead")]
    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    assert [(it.invoice_id, it.cause) for it in report.items] == [(inv, Cause.MISSING_THERE)]
    accounting_drift.repush(books.db.uow(), finance, inv, books.reader())
    pusher.run_until_idle()   # the invoice is there again; its payment is not (its push died)
    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    [item] = report.items
    assert (item.cause, item.actions) == (Cause.PAYMENT_PUSH_FAILED, [Action.REPUSH])
    assert "Invalid Reference" in item.explanation and "re-push" in item.explanation
    done = accounting_drift.repush(books.db.uow(), finance, inv, books.reader())
    assert done.details["queued"]["payments"] == [mine] and "1 payment(s)" in done.done
    assert payment_tasks(books) == [(mine, "pending")]   # the same task again, not a second one beside it
    pusher.run_until_idle()
    [p] = books.fake.all("Payment")
    m = accounting.get_mapping(books.db.uow(), "invoice", inv)
    assert m is not None and p["Line"][0]["LinkedTxn"][0]["TxnId"] == m.remote_id
    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    assert (report.items, report.pending_push) == ([], 0)
    assert "accounting.drift_repush" in books.world.audit_actions("invoice", inv)

    # deleted there later: a payment_not_there a re-push fixes by making it again
    books.api.request("POST", "payment", params={"operation": "delete"},
                      body={"Id": p["Id"], "SyncToken": books.fake.get("Payment", p["Id"])["SyncToken"]})
    [item] = accounting_drift.drift_report(books.db.uow(), finance, books.reader()).items
    assert (item.cause, item.actions) == (Cause.PAYMENT_NOT_THERE, [Action.REPUSH])
    accounting_drift.repush(books.db.uow(), finance, inv, books.reader())
    books.fake.lose_next_replies = 1   # made again, but the answer is lost: the retry finds it by its note
    assert pusher.run_once() == 0
    later(books)
    pusher.run_until_idle()
    assert len(books.fake.all("Payment")) == 1
    assert accounting_drift.drift_report(books.db.uow(), finance, books.reader()).items == []


def test_the_backfill_sends_the_payments_of_the_invoices_it_creates(books: Books, pusher: QuickBooksSync) -> None:
    from domain.store.tables import AccountingConnectionRow

    inv = books.issued()
    pay(books, inv, "120.00")
    with books.db.uow() as uow:   # as if connected after the payment: nothing queued, the backfill finds it
        uow.session.execute(AccountingQueueRow.__table__.delete())
        uow.session.execute(AccountingConnectionRow.__table__.update().values(backfilled_at=None))
        uow.commit()
    pusher.run_until_idle()
    [p] = books.fake.all("Payment")
    m = accounting.get_mapping(books.db.uow(), "invoice", inv)
    assert m is not None and p["Line"][0]["LinkedTxn"][0]["TxnId"] == m.remote_id
    assert Decimal(str(p["TotalAmt"])) == Decimal("120.00")


def test_a_payment_voided_there_is_made_again_by_a_re_push(books: Books, pusher: QuickBooksSync) -> None:
    """QuickBooks voids a Payment by zeroing it and putting "Voided" before its note ("Voided - billable payment
    …"): the drift's re-push makes ours again beside the voided one, not an edit of the voided one."""
    finance = books.world.actor("finance")
    inv, there = pushed_invoice(books, pusher)
    mine = pay(books, inv, "200.00")
    pusher.run_until_idle()
    [p] = books.fake.all("Payment")
    books.api.request("POST", "payment", params={"operation": "update", "include": "void"},
                      body={"Id": p["Id"], "SyncToken": books.fake.get("Payment", p["Id"])["SyncToken"],
                            "sparse": True})
    voided = books.fake.get("Payment", p["Id"])
    assert voided["TotalAmt"] == 0 and str(voided["PrivateNote"]).startswith("Voided - billable payment")
    [item] = accounting_drift.drift_report(books.db.uow(), finance, books.reader()).items
    assert item.actions == [Action.REPUSH]
    accounting_drift.repush(books.db.uow(), finance, inv, books.reader())
    pusher.run_until_idle()
    payments = {q["Id"]: q for q in books.fake.all("Payment")}
    assert payments[p["Id"]]["TotalAmt"] == 0  # the voided one stays void
    [again] = [q for q in payments.values() if q["Id"] != p["Id"]]
    assert again["TotalAmt"] == Decimal("200.00") and again["Line"][0]["LinkedTxn"][0]["TxnId"] == there["Id"]
    m = accounting.get_mapping(books.db.uow(), "payment", mine)
    assert m is not None and m.remote_id == again["Id"]
    assert accounting_drift.drift_report(books.db.uow(), finance, books.reader()).items == []

"""The drift report on SQLite and PostgreSQL against the local QuickBooks over real HTTP: empty after a clean sync;
each kind of difference listed with its cause; accepting theirs only where legal (payments made there are recorded
once, a void there voids ours), never an edited total; re-pushing queues a forced push; every action audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from channels.accounting.sync import QuickBooksSync
from domain.errors import BadTransition, Forbidden
from domain.model.accounting_drift import Action, Cause
from domain.services import accounting_drift, invoicing
from domain.store.tables import AccountingQueueRow
from tests.accounting.inbound_support import Books, books

__all__ = ["books"]


def months(n: int) -> tuple[date, date]:
    return date(2025, n, 1), date(2025, n, 28)


def test_drift_is_empty_after_a_clean_sync_and_names_each_kind_of_difference(books: Books) -> None:
    finance = books.world.actor("finance")
    clean = [books.issued(months(n)) for n in (1, 2)]
    for i in clean:
        books.push(i)
    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    assert (report.checked, report.items, report.pending_push) == (2, [], 0)
    assert report.company_name and report.realm_id

    kinds: dict[Cause, int] = {}
    never = books.issued(months(3))
    books.settle_queue(never, "dead")          # its push died: never reached QuickBooks
    kinds[Cause.NEVER_PUSHED] = never
    gone = books.issued(months(4))
    r = books.push(gone)
    books.api.request("POST", "invoice", params={"operation": "delete"}, body={"Id": r["Id"],
                                                                             "SyncToken": r["SyncToken"]})
    kinds[Cause.MISSING_THERE] = gone
    voided_there = books.issued(months(5))
    r = books.push(voided_there)
    books.api.void_invoice(r["Id"], r["SyncToken"])
    kinds[Cause.VOIDED_THERE] = voided_there
    voided_here = books.issued(months(6))
    books.push(voided_here)
    invoicing.void_invoice(books.db.uow(), finance, voided_here, "wrong client")
    books.settle_queue(voided_here, "dead")    # the void's push died
    kinds[Cause.VOID_NOT_PUSHED] = voided_here
    edited = books.issued(months(7))
    r = books.push(edited)
    line = dict(r["Line"][0])
    line["Amount"] = Decimal(str(line["Amount"])) - 100
    books.api.update("Invoice", {"Id": r["Id"], "SyncToken": r["SyncToken"], "Line": [line]})
    kinds[Cause.EDITED_THERE] = edited
    paid_there = books.issued(months(8))
    r = books.push(paid_there)
    books.fake.make_payment(r["Id"], "300.00")   # and the webhook was lost
    kinds[Cause.PAYMENT_NOT_SYNCED] = paid_there
    paid_here = books.issued(months(9))
    books.push(paid_here)
    invoicing.record_payment(books.db.uow(), finance, paid_here, "200.00", date(2026, 3, 31))
    with books.db.uow() as uow:   # recorded while disconnected: never queued (a queued one is not a difference)
        uow.session.execute(AccountingQueueRow.__table__.delete().where(AccountingQueueRow.subject == "payment"))
        uow.commit()
    kinds[Cause.PAYMENT_NOT_THERE] = paid_here

    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    found = {it.invoice_id: it for it in report.items}
    assert {found[i].cause for i in kinds.values()} == set(kinds) and len(found) == len(kinds)
    for cause, inv in kinds.items():
        assert found[inv].cause == cause and found[inv].explanation
        assert found[inv].actions   # each has a fix (the payment recorded here: re-push it)
    assert found[paid_here].actions == [Action.REPUSH] and "Re-pushing sends" in found[paid_here].explanation
    edited_item = found[edited]
    assert [(d.field, Decimal(d.ours) - Decimal(d.theirs)) for d in edited_item.differences
            if d.field == "total"] == [("total", Decimal("100"))]
    assert edited_item.actions == [Action.REPUSH] and "credit note for 100.00" in edited_item.explanation

    # accepting theirs: payments made there are recorded here (once), a void there voids ours
    out = accounting_drift.accept_theirs(books.db.uow(), finance, paid_there, books.reader())
    assert out.cause == Cause.PAYMENT_NOT_SYNCED and len(out.details["payments"]) == 1
    assert books.world.call(invoicing.get_invoice, finance, paid_there).paid == "300.00"
    with pytest.raises(BadTransition):   # in step now: nothing left to accept
        accounting_drift.accept_theirs(books.db.uow(), finance, paid_there, books.reader())
    accounting_drift.accept_theirs(books.db.uow(), finance, voided_there, books.reader())
    assert books.world.call(invoicing.get_invoice, finance, voided_there).status == "void"
    # an edited total is never accepted onto an issued invoice; re-pushing queues a forced push
    before = books.world.call(invoicing.get_invoice, finance, edited).total
    with pytest.raises(BadTransition) as e:
        accounting_drift.accept_theirs(books.db.uow(), finance, edited, books.reader())
    assert e.value.code == "drift.not_acceptable" and "credit note" in e.value.message
    assert books.world.call(invoicing.get_invoice, finance, edited).total == before
    with pytest.raises(Forbidden):
        accounting_drift.repush(books.db.uow(), books.world.actor("viewer"), edited, books.reader())
    done = accounting_drift.repush(books.db.uow(), finance, edited, books.reader())
    with books.db.uow() as uow:
        q = uow.session.get(AccountingQueueRow, done.details["queued"]["queue_id"])
        assert q is not None and (q.subject, q.ref_id, q.payload["force"], q.status) == ("invoice", edited, True,
                                                                                           "pending")
    accounting_drift.repush(books.db.uow(), finance, voided_here, books.reader())
    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    assert {it.invoice_id for it in report.items} == {never, gone, paid_here}
    assert report.pending_push == 3   # the two re-pushes, and the void accepted here: on their way
    for inv in (never, gone):
        accounting_drift.repush(books.db.uow(), finance, inv, books.reader())
    # the outbound sync pushes what was queued: ours replaces theirs, the deleted one is there again
    sync = QuickBooksSync(books.db, books.settings, http=books.http, throttle=books.throttle)
    sync.run_until_idle()
    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    assert [(it.invoice_id, it.cause) for it in report.items] == [(paid_here, Cause.PAYMENT_NOT_THERE)]
    assert report.pending_push == 0
    # re-pushing it sends the payment recorded here
    accounting_drift.repush(books.db.uow(), finance, paid_here, books.reader())
    assert accounting_drift.drift_report(books.db.uow(), finance, books.reader()).pending_push == 1
    sync.run_until_idle()
    report = accounting_drift.drift_report(books.db.uow(), finance, books.reader())
    assert (report.items, report.pending_push) == ([], 0)
    for inv, action in ((paid_there, "accounting.drift_accepted"), (voided_there, "accounting.drift_accepted"),
                        (edited, "accounting.drift_repush")):
        assert action in books.world.audit_actions("invoice", inv)


def test_drift_refuses_people_who_may_not_see_the_ledger(books: Books) -> None:
    for who in ("viewer", "account_manager", "contractor"):
        with pytest.raises(Forbidden):
            accounting_drift.drift_report(books.db.uow(), books.world.actor(who), books.reader())
    with books.db.uow() as uow:
        assert uow.session.execute(select(AccountingQueueRow).where(
            AccountingQueueRow.payload["force"].as_boolean())).first() is None

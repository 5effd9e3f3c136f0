"""The drift comparison and the customer comparison, pure: each cause with its legal actions; an issued invoice's
total is never "accepted"; a credit memo beside the invoice is not drift; empty fields there are no change."""

from __future__ import annotations

from decimal import Decimal

from domain.model.accounting_drift import (
    Action,
    Cause,
    OurInvoice,
    TheirInvoice,
    client_changes,
    compare_invoice,
    customer_fields,
)


def ours(total: str = "1190.00", balance: str | None = None, status: str = "sent", credited: str = "0") -> OurInvoice:
    return OurInvoice(invoice_id=7, number="INV-2026-000007", status=status, currency="EUR", total=Decimal(total),
                      balance=Decimal(balance if balance is not None else total), credited=Decimal(credited))


def theirs(total: str = "1190.00", balance: str | None = None, voided: bool = False,
           currency: str = "") -> TheirInvoice:
    return TheirInvoice(external_id="42", total=Decimal(total), balance=Decimal(balance if balance is not None
                                                                                  else total),
                        voided=voided, currency=currency)


def test_the_same_invoice_is_no_drift_whatever_the_number_format() -> None:
    assert compare_invoice(ours(), theirs("1190.0"), True) is None
    assert compare_invoice(ours(balance="190.00", status="partially_paid"), theirs(balance="190"), True) is None
    assert compare_invoice(ours(balance="0", status="void"), theirs("0", "0", voided=True), True) is None


def test_each_cause_with_its_actions() -> None:
    cases = [
        (compare_invoice(ours(), None, False), Cause.NEVER_PUSHED, [Action.REPUSH]),
        (compare_invoice(ours(), None, True), Cause.MISSING_THERE, [Action.REPUSH]),
        (compare_invoice(ours(), theirs("0", "0", voided=True), True), Cause.VOIDED_THERE, [Action.ACCEPT]),
        (compare_invoice(ours(status="void", balance="0"), theirs(), True), Cause.VOID_NOT_PUSHED, [Action.REPUSH]),
        (compare_invoice(ours(), theirs("1000.00"), True), Cause.EDITED_THERE, [Action.REPUSH]),
        (compare_invoice(ours(), theirs(currency="USD"), True), Cause.EDITED_THERE, [Action.REPUSH]),
        (compare_invoice(ours(), theirs(balance="190.00"), True), Cause.PAYMENT_NOT_SYNCED, [Action.ACCEPT]),
        # paid here: re-pushing sends our payments; nothing of ours to send (applied from a payment parked from
        # QuickBooks): a person applies it there; a refused payment push: fixed, then re-pushed
        (compare_invoice(ours(balance="190.00", status="partially_paid"), theirs(), True, payments_here=True),
         Cause.PAYMENT_NOT_THERE, [Action.REPUSH]),
        (compare_invoice(ours(balance="190.00", status="partially_paid"), theirs(), True), Cause.PAYMENT_NOT_THERE,
         []),
        (compare_invoice(ours(balance="190.00", status="partially_paid"), theirs(), True, payments_here=True,
                         payment_refused="QuickBooks 400 2500: Invalid Reference Id"), Cause.PAYMENT_PUSH_FAILED,
         [Action.REPUSH]),
    ]
    for item, cause, actions in cases:
        assert item is not None and (item.cause, item.actions) == (cause, actions)
        assert item.explanation and item.differences and item.cause.value.replace("_", " ")


def test_a_lower_total_there_proposes_a_credit_note_and_is_never_accepted() -> None:
    item = compare_invoice(ours(), theirs("1000.00", "1000.00"), True)
    assert item is not None and Action.ACCEPT not in item.actions
    assert "credit note for 190.00 EUR" in item.explanation and "never edited" in item.explanation
    assert {d.field for d in item.differences} == {"total", "balance"}
    higher = compare_invoice(ours(), theirs("1300.00"), True)
    assert higher is not None and "invoice the further 110.00 EUR" in higher.explanation


def test_a_credit_note_here_is_a_credit_memo_there_not_drift() -> None:
    assert compare_invoice(ours(balance="990.00", credited="200.00"), theirs(), True) is None
    assert compare_invoice(ours(balance="990.00", credited="200.00"), theirs(balance="990.00"), True) is None


def test_customer_fields_and_changes() -> None:
    qb = {"DisplayName": "Initech GmbH", "CompanyName": "Initech GmbH",
          "PrimaryEmailAddr": {"Address": "AP@initech.example"},
          "BillAddr": {"Line1": "Neue Straße 2", "City": "Berlin", "PostalCode": "10115", "Country": "Germany"}}
    fields = customer_fields(qb)
    assert fields["country"] == "" and fields["street"] == "Neue Straße 2"   # free-text country: not comparable
    ours_now = {"name": "Initech GmbH", "email": "ap@initech.example", "street": "Alte Straße 1", "city": "Berlin",
                "postcode": "10115", "country": "DE", "additional": "2nd floor", "region": ""}
    assert client_changes(ours_now, fields) == {"street": {"ours": "Alte Straße 1", "theirs": "Neue Straße 2"}}
    assert client_changes(ours_now, {**fields, "street": "Alte Straße 1"}) == {}
    assert customer_fields({"DisplayName": "X", "BillAddr": "nonsense", "PrimaryEmailAddr": None})["street"] == ""

"""Bad input: each is refused with a 4xx naming the field and the reason, and the database is unchanged.

Validated at the edge (pydantic: shapes, JSON numbers for money) and again by the domain (currencies, places,
signs, periods, existence). One test walks every case on each database, so the books are set up once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.store.session import Database
from tests.support.api import row_counts
from tests.support.fixtures import Clients
from tests.support.scenario import arrangement, issued_invoice, log_hours, new_client, walk_client


@dataclass
class Case:
    name: str
    method: str
    path: str
    body: Any
    status: int
    code: str
    field: str


BIG = 2**64 + 1


def cases(eur: int, jpy: int, jpy_pass_through: int, invoice: int) -> list[Case]:
    entry = {"client_id": eur, "person": "dana@example.com", "role": "developer", "date": "2026-03-05",
             "description": "x"}
    client = {"name": "Initech", "currency": "EUR", "billing_emails": ["ap@initech.example.com"]}
    period = {"client_id": eur, "period_start": "2026-03-01", "period_end": "2026-03-31"}
    pay = {"received_on": "2026-04-02", "reference": "r"}
    return [
        Case("negative hours", "POST", "/v1/time-entries", {**entry, "hours": "-2"}, 422, "validation.negative",
             "hours"),
        Case("zero hours", "POST", "/v1/time-entries", {**entry, "hours": "0"}, 422, "validation.not_positive",
             "hours"),
        Case("more than a day", "POST", "/v1/time-entries", {**entry, "hours": "25"}, 422, "validation.too_large",
             "hours"),
        Case("hours as a JSON float", "POST", "/v1/time-entries", {**entry, "hours": 7.5}, 422,
             "validation.invalid", "hours"),
        Case("unknown currency", "POST", "/v1/clients", {**client, "currency": "EUX"}, 422, "validation.invalid",
             "currency"),
        Case("tax rate over 100", "POST", "/v1/clients", {**client, "tax_profile": {"rate": "120"}}, 422,
             "validation.invalid", "tax_profile.rate"),
        Case("tax rate as a JSON number", "POST", "/v1/clients", {**client, "tax_profile": {"rate": 19.5}}, 422,
             "validation.invalid", "tax_profile.rate"),
        Case("bad billing e-mail", "POST", "/v1/clients", {**client, "billing_emails": ["nope"]}, 422,
             "validation.invalid", "billing_emails.0"),
        Case("period ends before it starts", "POST", "/v1/invoices/draft",
             {**period, "period_start": "2026-03-31", "period_end": "2026-03-01"}, 422, "validation.period_order",
             "period_end"),
        Case("not a date", "POST", "/v1/invoices/draft", {**period, "period_end": "2026-02-30"}, 422,
             "validation.invalid", "period_end"),
        Case("unknown client (draft)", "POST", "/v1/invoices/draft", {**period, "client_id": 9999}, 404,
             "client.not_found", "client_id"),
        Case("unknown client (time)", "POST", "/v1/time-entries", {**entry, "client_id": 9999, "hours": "1"}, 404,
             "client.not_found", "client_id"),
        Case("unknown client (arrangement)", "POST", "/v1/clients/9999/arrangements",
             {"kind": "retainer", "fee": "10.00"}, 404, "client.not_found", "client_id"),
        Case("amount as a JSON number", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": 12.1}, 422,
             "validation.invalid", "amount"),
        Case("amount as a JSON integer", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": 12}, 422,
             "validation.invalid", "amount"),
        Case("more decimals than EUR has", "POST", f"/v1/invoices/{invoice}/payments",
             {**pay, "amount": "10.001"}, 422, "validation.too_precise", "amount"),
        Case("not a number", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": "ten"}, 422,
             "validation.not_a_decimal", "amount"),
        Case("negative payment", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": "-5.00"}, 422,
             "validation.negative", "amount"),
        Case("overpayment", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": "99999.00"}, 422,
             "payment.overpayment", "amount"),
        Case("credit over the balance", "POST", f"/v1/invoices/{invoice}/credit-notes",
             {"reason": "goodwill", "amount": "99999.00"}, 422, "credit.exceeds_balance", "amount"),
        Case("credit amount as a JSON number", "POST", f"/v1/invoices/{invoice}/credit-notes",
             {"reason": "goodwill", "amount": 10.5}, 422, "validation.invalid", "amount"),
        Case("void without a reason", "POST", f"/v1/invoices/{invoice}/void", {"reason": ""}, 422,
             "validation.invalid", "reason"),
        Case("more decimals than JPY has (fee)", "POST", f"/v1/clients/{jpy}/arrangements",
             {"kind": "retainer", "fee": "1.5"}, 422, "validation.too_precise", "fee"),
        Case("more decimals than JPY has (cost)", "POST", "/v1/expenses",
             {"client_id": jpy, "arrangement_id": jpy_pass_through, "date": "2026-03-03", "description": "cable",
              "cost": "1.5"}, 422, "validation.too_precise", "cost"),
        Case("expense cost as a JSON number", "POST", "/v1/expenses",
             {"client_id": jpy, "arrangement_id": jpy_pass_through, "date": "2026-03-03", "description": "cable",
              "cost": 12.1}, 422, "validation.invalid", "cost"),
        Case("fee as a JSON number", "POST", f"/v1/clients/{eur}/arrangements",
             {"kind": "retainer", "fee": 5000.5}, 422, "validation.invalid", "fee"),
        Case("negative rate", "POST", f"/v1/clients/{eur}/arrangements",
             {"kind": "time_and_materials", "role_rates": {"developer": "-1"}}, 422, "validation.invalid",
             "role_rates.developer"),
        Case("unknown arrangement kind", "POST", f"/v1/clients/{eur}/arrangements", {"kind": "barter"}, 422,
             "validation.invalid", "kind"),
        Case("manual line price as a JSON number", "POST", f"/v1/invoices/{invoice}/lines",
             {"description": "x", "quantity": "1", "unit_price": 9.99}, 422, "validation.invalid", "unit_price"),
        Case("the currency never changes", "PATCH", f"/v1/clients/{eur}", {"currency": "USD"}, 422,
             "validation.invalid", "currency"),
        Case("a client's name is never null", "PATCH", f"/v1/clients/{eur}", {"name": None}, 422,
             "validation.invalid", "name"),
        Case("negative deviation threshold", "PATCH", "/v1/settings", {"deviation_pct": "-1"}, 422,
             "validation.invalid", "deviation_pct"),
        Case("numbering without a sequence", "PATCH", "/v1/settings", {"invoice_number_format": "INV-{yyyy}"}, 422,
             "numbering.bad_format", "invoice_number_format"),
        Case("threshold with too many decimals", "PATCH", "/v1/settings", {"approval_thresholds": {"EUR": "1.001"}},
             422, "validation.too_precise", "approval_thresholds.EUR"),
        Case("setting to null", "PATCH", "/v1/settings", {"pilot_mode": None}, 422, "validation.invalid",
             "pilot_mode"),
        # the parties (issue 12): identifiers are checked by their check digits
        Case("client VAT ID with a wrong check digit", "POST", "/v1/clients", {**client, "vat_id": "DE147820931"},
             422, "validation.invalid", "vat_id"),
        Case("client country that is no ISO code", "POST", "/v1/clients",
             {**client, "address": {"street": "Main St 1", "city": "Berlin", "country": "GE-R"}}, 422,
             "validation.invalid", "address.country"),
        Case("client e-invoice address in an unknown scheme", "PATCH", f"/v1/clients/{eur}",
             {"electronic_address": {"scheme": "1234", "identifier": "x"}}, 422, "validation.invalid",
             "electronic_address.scheme"),
        Case("client changed to a wrong VAT ID", "PATCH", f"/v1/clients/{eur}", {"vat_id": "NL819203477B01"}, 422,
             "validation.invalid", "vat_id"),
        Case("unknown e-invoice format", "PATCH", f"/v1/clients/{eur}", {"einvoice_format": "edifact"}, 422,
             "validation.invalid", "einvoice_format"),
        Case("seller IBAN with a wrong checksum", "PATCH", "/v1/settings/seller",
             {"bank_account": {"iban": "DE02600501017495530103"}}, 422, "validation.invalid", "bank_account.iban"),
        Case("seller BIC of the wrong length", "PATCH", "/v1/settings/seller", {"bank_account": {"bic": "SOLADES"}},
             422, "validation.invalid", "bank_account.bic"),
        Case("seller VAT ID with a wrong check digit", "PATCH", "/v1/settings/seller", {"vat_id": "DE147820933"},
             422, "validation.invalid", "vat_id"),
        Case("seller Steuernummer that is none", "PATCH", "/v1/settings/seller",
             {"address": {"country": "DE"}, "tax_number": "12"}, 422, "validation.invalid", "tax_number"),
        # integers beyond 64 bits: in a path, a query, a body, a list
        Case("id beyond 64 bits (path)", "GET", f"/v1/invoices/{BIG}", None, 422, "validation.invalid",
             "invoice_id"),
        Case("id beyond 64 bits (arrangements path)", "POST", f"/v1/clients/{BIG}/arrangements",
             {"kind": "retainer", "fee": "10.00"}, 422, "validation.invalid", "client_id"),
        Case("offset beyond 64 bits", "GET", f"/v1/invoices?offset={BIG}", None, 422, "validation.invalid",
             "offset"),
        Case("client id beyond 64 bits (query)", "GET", f"/v1/invoices?client_id={BIG}", None, 422,
             "validation.invalid", "client_id"),
        Case("client id beyond 64 bits (body)", "POST", "/v1/invoices/draft", {**period, "client_id": BIG}, 422,
             "validation.invalid", "client_id"),
        Case("client id beyond 64 bits (string)", "POST", "/v1/time-entries", {**entry, "client_id": str(BIG),
                                                                               "hours": "1"}, 422,
             "validation.invalid", "client_id"),
        Case("account manager id beyond 64 bits", "POST", "/v1/clients", {**client, "account_manager_ids": [BIG]},
             422, "validation.invalid", "account_manager_ids.0"),
        Case("seats beyond reason", "POST", f"/v1/clients/{eur}/arrangements",
             {"kind": "subscription", "product": "Seats", "seats": BIG, "unit_price": "1.00"}, 422,
             "validation.invalid", "seats"),
        # dates and windows
        Case("a century-long draft", "POST", "/v1/invoices/draft",
             {**period, "period_start": "1926-01-01", "period_end": "2026-12-31"}, 422, "validation.period_too_long",
             "period_end"),
        Case("a draft from year 1", "POST", "/v1/invoices/draft", {**period, "period_start": "0001-01-01"}, 422,
             "validation.invalid", "period_start"),
        Case("time in year 9999", "POST", "/v1/time-entries", {**entry, "date": "9999-12-31", "hours": "1"}, 422,
             "validation.invalid", "date"),
        Case("payment in year 1", "POST", f"/v1/invoices/{invoice}/payments",
             {**pay, "received_on": "0001-01-01", "amount": "1.00"}, 422, "validation.invalid", "received_on"),
        # money strings: plain ASCII decimals, at most the currency's places
        Case("German thousands", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": "1.000"}, 422,
             "validation.too_precise", "amount"),
        Case("Unicode digits", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": "١٠"}, 422,
             "validation.not_a_decimal", "amount"),
        Case("underscore grouping", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": "1_0"}, 422,
             "validation.not_a_decimal", "amount"),
        Case("exponent", "POST", f"/v1/invoices/{invoice}/payments", {**pay, "amount": "1e1"}, 422,
             "validation.not_a_decimal", "amount"),
        # the number format's width
        Case("a 100,000-digit number", "PATCH", "/v1/settings", {"invoice_number_format": "INV-{seq:0100000}"}, 422,
             "numbering.bad_format", "invoice_number_format"),
    ]


def test_every_bad_input_is_refused_by_field_and_changes_nothing(db: Database, as_user: Clients) -> None:
    api = as_user.owner
    eur = walk_client(api)
    log_hours(api, eur.id, [("2026-03-02", "4")])
    invoice = issued_invoice(api, as_user.finance, eur.id)
    jpy = new_client(api, "Nippon KK", currency="JPY")
    jpy_pass = arrangement(api, jpy["id"], {"kind": "pass_through", "markup_pct": "10"})
    settings_before = api.ok("GET", "/v1/settings")
    seller_before = api.ok("GET", "/v1/settings/seller")

    problems = []
    for case in cases(eur.id, jpy["id"], jpy_pass["id"], invoice["id"]):
        before = row_counts(db)
        r = api.http.request(case.method, case.path, json=case.body)
        body = r.json()
        got = (r.status_code, body.get("code"), body.get("field"))
        if got != (case.status, case.code, case.field) or r.headers["content-type"] != "application/problem+json":
            problems.append(f"{case.name}: expected {(case.status, case.code, case.field)}, got {got}: {r.text}")
        elif not body.get("detail"):
            problems.append(f"{case.name}: no reason given")
        if row_counts(db) != before:
            problems.append(f"{case.name}: the database changed")
    assert not problems, "\n".join(problems)
    assert api.ok("GET", f"/v1/invoices/{invoice['id']}") == {**invoice, "payments": [], "credit_notes": []}
    assert api.ok("GET", "/v1/settings") == settings_before
    assert api.ok("GET", "/v1/settings/seller") == seller_before

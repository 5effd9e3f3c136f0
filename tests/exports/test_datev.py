"""DATEV export: the EXTF Buchungsstapel read back and balanced against the month's documents, on both databases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain.errors import BillingError, Forbidden, ValidationFailed
from domain.model import datev
from domain.services import exports, invoicing
from domain.store.session import Database
from tests.services.conftest import World
from tests.support.fixtures import Clients

APRIL = "2026-04"  # the test clock's month: invoices issued by the tests carry 2026-04-01


def _read(content: bytes) -> tuple[list[str], list[str], list[dict[str, str]]]:
    text = content.decode("cp1252")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    header, names, body = rows[0], rows[1], rows[2:]
    assert all(len(r) == 125 for r in [names, *body])
    return header, names, [dict(zip(names, r, strict=True)) for r in body]


def _amount(text: str) -> Decimal:
    assert text.count(",") == 1 and "." not in text, text
    return Decimal(text.replace(",", "."))


def _net_per_debtor(rows: list[dict[str, str]], base: bool = False) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for r in rows:
        amount = _amount(r["Basis-Umsatz"] if base and r["Basis-Umsatz"] else r["Umsatz (ohne Soll/Haben-Kz)"])
        sign = 1 if r["Soll/Haben-Kennzeichen"] == "S" else -1
        out[r["Konto"]] = out.get(r["Konto"], Decimal(0)) + sign * amount
    return out


@pytest.fixture
def book(world: World) -> dict[str, int]:
    """Issued in April: a German 19 % invoice (part credited), a Dutch reverse-charge one, a British one in GBP
    (voided), and a German one in another month that must stay out."""
    de = world.retainer_client("1000.00", name="Nordwerk GmbH")
    nl = world.retainer_client("2500.00", name="Van Dijk B.V.",
                               tax_profile={"mode": "reverse_charge", "region": "NL"}, vat_id="NL819203476B01")
    gb = world.retainer_client("800.00", name="Harbour Ltd", currency="GBP", rate="20")
    inv_de = world.issued(de)
    inv_nl = world.issued(nl)
    inv_gb = world.issued(gb)
    world.call(invoicing.create_credit_note, world.actor("finance"), inv_de.id, "discount agreed", "119.00")
    world.call(invoicing.void_invoice, world.actor("finance"), inv_gb.id, "sent to the wrong company")
    world.db.clock.set(datetime(2026, 5, 4, 9, tzinfo=UTC))  # type: ignore[attr-defined]
    may = world.issued(de, (date(2026, 4, 1), date(2026, 4, 30)))
    world.db.clock.set(datetime(2026, 4, 30, 9, tzinfo=UTC))  # type: ignore[attr-defined]
    world.call(exports.update_datev_settings, world.actor("owner"),
               {"consultant_number": 1234567, "client_number": 42,
                "revenue_accounts": {"standard_20": 8338}})
    return {"de": de, "nl": nl, "gb": gb, "inv_de": inv_de.id, "inv_nl": inv_nl.id, "inv_gb": inv_gb.id,
            "may": may.id}


def test_the_month_reads_back_and_balances_against_its_documents(world: World, book: dict[str, int]) -> None:
    out = world.call(exports.export_datev, world.actor("finance"), APRIL, {"GBP": "0.8"})
    header, names, rows = _read(out.content)
    assert names == list(datev.COLUMNS)
    assert header[:6] == ["EXTF", "700", "21", "Buchungsstapel", "13", header[5]] and len(header) == 31
    assert header[10:16] == ["1234567", "42", "20260101", "4", "20260401", "20260430"]
    assert header[21] == "EUR" and header[26] == "03"
    assert out.filename == "EXTF_Buchungsstapel_2026-04.csv"

    invoices = {i: world.call(invoicing.get_invoice, world.system, book[i]) for i in ("inv_de", "inv_nl", "inv_gb")}
    debtor = {k: str(datev.DEFAULT_DEBTOR_START + book[k]) for k in ("de", "nl", "gb")}
    net = _net_per_debtor(rows)
    # invoice minus the 119.00 credit note; the voided British invoice is booked and reversed in the month
    assert net[debtor["de"]] == Decimal(invoices["inv_de"].total) - Decimal("119.00")
    assert net[debtor["nl"]] == Decimal(invoices["inv_nl"].total)
    assert net[debtor["gb"]] == 0
    assert {r["Belegfeld 1"] for r in rows} == {invoices[i].number for i in invoices} | {
        n.number for n in world.call(invoicing.list_invoices, world.system, kind="credit_note")}
    may = world.call(invoicing.get_invoice, world.system, book["may"])
    assert may.number not in {r["Belegfeld 1"] for r in rows}  # issued in May: not April's

    by_doc = {(r["Belegfeld 1"], r["Soll/Haben-Kennzeichen"]): r for r in rows}
    de_row = by_doc[(invoices["inv_de"].number, "S")]
    assert de_row["Gegenkonto (ohne BU-Schlüssel)"] == "8400" and de_row["Belegdatum"] == "0104"
    assert de_row["Umsatz (ohne Soll/Haben-Kz)"] == "1190,00" and de_row["Buchungstext"] == "Nordwerk GmbH"
    nl_row = by_doc[(invoices["inv_nl"].number, "S")]
    assert nl_row["Gegenkonto (ohne BU-Schlüssel)"] == "8336"
    assert nl_row["EU-Land u. UStID (Bestimmung)"] == "NL819203476B01"
    gb_rows = [r for r in rows if r["Belegfeld 1"] == invoices["inv_gb"].number]
    assert sorted(r["Soll/Haben-Kennzeichen"] for r in gb_rows) == ["H", "S"]
    assert all(r["WKZ Umsatz"] == "GBP" and r["Kurs"] == "0,800000" and r["Umsatz (ohne Soll/Haben-Kz)"] ==
               "960,00" and r["Basis-Umsatz"] == "1200,00" and r["WKZ Basis-Umsatz"] == "EUR" for r in gb_rows)
    assert out.bookings == len(rows) == 5 and out.documents == 5


def test_documents_in_another_currency_need_a_rate_and_nothing_is_written(world: World,
                                                                           book: dict[str, int]) -> None:
    with pytest.raises(ValidationFailed) as e:
        world.call(exports.export_datev, world.actor("finance"), APRIL)
    assert e.value.field == "rates" and "GBP" in e.value.message
    for bad in ("0", "-1", "x", "nan"):
        with pytest.raises(ValidationFailed) as e:
            world.call(exports.export_datev, world.actor("finance"), APRIL, {"GBP": bad})
        assert e.value.field == "rates.GBP"


def test_a_rate_without_a_revenue_account_names_what_to_map(world: World) -> None:
    c = world.retainer_client("100.00", name="Odd Rate SARL", rate="20")
    world.issued(c)
    with pytest.raises(ValidationFailed) as e:
        world.call(exports.export_datev, world.actor("finance"), APRIL)
    assert e.value.field == "revenue_accounts.standard_20"


def test_a_bad_month_is_refused_naming_it(world: World) -> None:
    for month in ("2026-13", "2026-4", "26-04", "april", "0999-01"):  # one book: nothing is written either way
        with pytest.raises(ValidationFailed) as e:
            world.call(exports.export_datev, world.actor("finance"), month)
        assert e.value.field == "month", month


def test_only_owners_and_finance_export_the_books(world: World) -> None:
    for who in ("account_manager", "contractor", "viewer"):
        with pytest.raises(Forbidden):
            world.call(exports.export_datev, world.actor(who), APRIL)
        with pytest.raises(Forbidden):
            world.call(exports.update_datev_settings, world.actor(who), {"client_number": 7})


BAD_SETTINGS: list[tuple[dict[str, object], str]] = [
    ({"consultant_number": 12}, "consultant_number"),
    ({"chart": "SKR99"}, "chart"),
    ({"revenue_accounts": {"standard_19": 84000}}, "revenue_accounts.standard_19"),
    ({"revenue_accounts": {"salad": 8400}}, "revenue_accounts"),
    ({"debtor_accounts": {"1": 123}}, "debtor_accounts.1"),
    ({"account_length": 5}, "debtor_start"),
    ({"account_length": 5, "debtor_start": 100000}, "revenue_accounts.standard_19"),
    ({"nonsense": 1}, "nonsense"),
]


def test_bad_settings_are_refused_and_change_nothing(world: World) -> None:
    before = world.snapshot()
    for changes, field in BAD_SETTINGS:  # each refused on the same, unchanged book
        with pytest.raises(BillingError) as e:
            world.call(exports.update_datev_settings, world.actor("owner"), changes)
        assert e.value.field == field, changes
        assert world.snapshot() == before, changes


def test_skr04_and_own_debtor_accounts(world: World, book: dict[str, int]) -> None:
    world.call(exports.update_datev_settings, world.actor("finance"),
               {"chart": "SKR04", "debtor_accounts": {str(book["de"]): 12345}})
    out = world.call(exports.export_datev, world.actor("finance"), APRIL, {"GBP": "0.8"})
    header, _, rows = _read(out.content)
    assert header[26] == "04"
    de = [r for r in rows if r["Konto"] == "12345"]
    assert de and {r["Gegenkonto (ohne BU-Schlüssel)"] for r in de} == {"4400"}


def test_http_and_cli_doors(db: Database, as_user: Clients, world: World, book: dict[str, int],
                            tmp_path: object) -> None:
    r = as_user.finance.get("/v1/exports/datev", params={"month": APRIL, "rates": "GBP:0.8"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="EXTF_Buchungsstapel_2026-04.csv"' in r.headers["content-disposition"]
    direct = world.call(exports.export_datev, world.actor("finance"), APRIL, {"GBP": "0.8"})
    assert _read(r.content)[2] == _read(direct.content)[2]
    r = as_user.finance.get("/v1/exports/datev", params={"month": APRIL})
    assert r.status_code == 422 and r.json()["field"] == "rates"
    assert as_user.viewer.get("/v1/exports/datev", params={"month": APRIL}).status_code == 403
    r = as_user.owner.patch("/v1/exports/datev/settings", json={"client_number": 77})
    assert r.status_code == 200 and r.json()["client_number"] == 77
    assert as_user.owner.patch("/v1/exports/datev/settings", json={"chart": "SKR77"}).status_code == 422

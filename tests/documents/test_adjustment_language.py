"""Adjustments in the client's language (issue 12 after issue 13): the difference an amendment (or an end) leaves on
a period or time already invoiced keeps its wording as data beside its English description; the line it becomes on
the next invoice is written in German, Dutch or French on the document and in the e-invoice's line names, the
stored English description unchanged; an adjustment made before it carried its wording keeps its description."""

from __future__ import annotations

import html as htmllib
from datetime import date
from typing import Any

from babel import Locale
from lxml import etree
from sqlalchemy import select

from channels.documents import Renderer
from channels.documents._lines import describe
from channels.documents.einvoice import xml
from domain.services import contracts, documents, invoicing
from domain.services.einvoice import input_from_document
from domain.store import tables
from tests.documents.test_line_language import BUYER, SELLER
from tests.documents.test_render import pdf_text
from tests.services.conftest import APRIL, MARCH, World

RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"


def _names(doc: Any, fmt: str) -> list[str]:
    """The line names of the document's e-invoice in `fmt` (CII: Factur-X, XRechnung CII; UBL: XRechnung UBL)."""
    root = etree.fromstring(xml(input_from_document(doc, SELLER, BUYER), fmt))
    if fmt.endswith("ubl"):
        return [e.text or "" for e in root.iter(f"{{{CBC}}}Name")
                if e.getparent() is not None and e.getparent().tag.endswith("}Item")]
    return [e.text or "" for e in root.iter(f"{{{RAM}}}Name")
            if e.getparent() is not None and e.getparent().tag.endswith("SpecifiedTradeProduct")]


def _page(world: World, invoice_id: int) -> str:
    doc = world.call(documents.invoice_document, world.system, invoice_id)
    return htmllib.unescape(Renderer().html(doc)).replace("\xa0", " ").replace("\u202f", " ")


def _issue(world: World, invoice_id: int) -> int:
    inv = world.call(invoicing.issue_invoice, world.system, invoice_id)
    if inv.status == "pending_approval":
        inv = world.call(invoicing.approve_invoice, world.actor("finance"), inv.id)
    assert inv.number is not None
    return inv.id


def _amend(world: World, client_id: int, arrangement_id: int, effective_on: str, **terms: Any) -> None:
    world.call(contracts.amend_arrangement, world.actor("finance"), client_id, arrangement_id,
               {"effective_on": effective_on, "terms": terms})


def _subscription(world: World, name: str, locale: str) -> tuple[int, int]:
    c = world.client(name, locale=locale)
    a = world.arrangement(c.id, "subscription", name="EDR", product="Managed EDR", seats=48, unit_price="7.50",
                          starts_on="2026-01-01")
    return c.id, a.id


SEATS_EN = "EDR — March 2026: seats 48 → 52 from 2026-03-10 (version 2) (difference)"


def test_seats_raised_on_an_invoiced_month_bill_a_german_difference_on_the_next_invoice(world: World) -> None:
    cid, aid = _subscription(world, "Nordwerk GmbH", "de_DE")
    world.issued(cid, MARCH)
    _amend(world, cid, aid, "2026-03-10", seats=52)
    april = world.draft(cid, APRIL)
    # the stored description is the English one, as before: the API, the audit trail and QuickBooks read it
    assert [ln.description for ln in april.lines][1] == SEATS_EN
    with world.db.uow() as uow:
        adj = uow.arrangements.adjustments(aid)[0]
        assert adj.description == SEATS_EN
        assert adj.text == {"key": "adjustment", "params": {
            "name": "EDR", "start": "2026-03-01", "end": "2026-03-31", "credit": 0,
            "change": {"changes": [{"field": "seats", "before": 48, "after": 52}], "from": "2026-03-10",
                       "version": 2, "proposed": 0}}}
    inv_id = _issue(world, april.id)
    german = "EDR — März 2026: Lizenzen 48 → 52 ab 10.03.2026 (Version 2) (Nachberechnung)"
    page = _page(world, inv_id)
    assert german in page and SEATS_EN not in page
    doc = world.call(documents.invoice_document, world.system, inv_id)
    for fmt in ("facturx", "xrechnung-cii", "xrechnung-ubl"):
        assert german in _names(doc, fmt), fmt
    pdf = " ".join(pdf_text(Renderer().pdf(doc)).split())
    assert "Lizenzen 48 → 52 ab 10.03.2026" in pdf and "seats 48" not in pdf
    stored = [ln.description for ln in world.call(invoicing.get_invoice, world.system, inv_id).lines]
    assert stored[1] == SEATS_EN


def test_a_lower_fee_is_a_credit_in_dutch_and_french_and_re_priced_time_in_german(world: World) -> None:
    expected = {"nl_NL": "Support — maart 2026: vergoeding 1.000,00 → 800,00 per 16 mrt 2026 (versie 2) (creditering)",
                "fr_FR": "Support — mars 2026 : honoraires 1 000,00 → 800,00 à compter du 16 mars 2026 (version 2) "
                         "(avoir)"}
    for locale, worded in expected.items():
        c = world.client(f"Fee {locale}", locale=locale)
        a = world.arrangement(c.id, "retainer", name="Support", fee="1000.00", starts_on="2026-01-01")
        world.issued(c.id, MARCH)
        _amend(world, c.id, a.id, "2026-03-16", fee="800.00")
        april = world.draft(c.id, APRIL)
        assert april.lines[1].description == (
            "Support — March 2026: fee 1000.00 → 800.00 from 2026-03-16 (version 2) (credit)")
        page = _page(world, _issue(world, april.id))
        assert worded in page, (locale, page[page.find("Support —"):][:300])

    # time already invoiced, re-priced by a rate dated back: the invoice it was on, the days, the rate
    c = world.client("Stunden GmbH", locale="de_DE")
    a = world.arrangement(c.id, "time_and_materials", name="Projekte", default_rate="100.00", starts_on="2026-01-01")
    world.log(c.id, date(2026, 3, 10), "2")
    march = world.issued(c.id, MARCH)
    _amend(world, c.id, a.id, "2026-03-01", default_rate="120.00")
    april = world.draft(c.id, APRIL)
    assert [ln.description for ln in april.lines] == [
        f"Projekte — time of 2026-03-10..2026-03-10 on invoice {march.number}: default rate 100.00 → 120.00 from "
        "2026-03-01 (version 2) (difference)"]
    page = _page(world, _issue(world, april.id))
    assert (f"Projekte — Zeiten vom 10.03.2026 bis 10.03.2026, abgerechnet mit Rechnung {march.number}: "
            "Standardstundensatz 100,00 → 120,00 ab 01.03.2026 (Version 2) (Nachberechnung)") in page


def test_an_adjustment_made_before_it_carried_its_wording_keeps_its_description(world: World) -> None:
    cid, aid = _subscription(world, "Altbestand GmbH", "de_DE")
    world.issued(cid, MARCH)
    _amend(world, cid, aid, "2026-03-10", seats=52)
    with world.db.sessions.begin() as s:  # as the migration leaves the rows made before it
        for row in s.scalars(select(tables.ArrangementAdjustmentRow)
                             .where(tables.ArrangementAdjustmentRow.arrangement_id == aid)):
            row.text = None
    april = world.draft(cid, APRIL)
    inv_id = _issue(world, april.id)
    page = _page(world, inv_id)
    assert SEATS_EN in page and "Managed EDR — 52 Lizenzen, April 2026" in page  # the rest is German all the same
    doc = world.call(documents.invoice_document, world.system, inv_id)
    assert SEATS_EN in _names(doc, "facturx")


def test_each_adjustment_wording_and_its_fallbacks() -> None:
    """An end with its reason, a proposal, a rate table, a cleared cap, a cycle; a field of a later version or a
    damaged change keep the stored description."""
    de, fr = Locale.parse("de_DE"), Locale.parse("fr_FR")

    def text(change: dict[str, Any], credit: int = 0) -> dict[str, Any]:
        return {"text": {"key": "adjustment", "params": {"name": "Betrieb", "start": "2026-03-01",
                                                         "end": "2026-03-31", "change": change, "credit": credit}}}

    ended = {"ended": "2026-03-15", "reason": "client left"}
    assert describe("x", text(ended, 1), "de", de) == (
        "Betrieb — März 2026: beendet am 15.03.2026 (client left) (Entgeltminderung)")
    assert describe("x", text({"ended": "2026-03-15", "reason": ""}, 1), "fr", fr) == (
        "Betrieb — mars 2026 : terminé le 15 mars 2026 (avoir)")
    changes = [{"field": "role_rates", "changed": 1}, {"field": "cap", "before": "5000.00", "after": None},
               {"field": "cycle", "before": "monthly", "after": "quarterly"}]
    proposed = {"changes": changes, "from": "2026-03-01", "version": 3, "proposed": 1}
    assert describe("x", text(proposed), "de", de) == (
        "Betrieb — März 2026: Stundensätze je Rolle geändert, Kostenobergrenze 5.000,00 → keine, Abrechnungszeitraum "
        "monatlich → vierteljährlich ab 01.03.2026 (Version 3, vorgeschlagen) (Nachberechnung)")
    later = {"changes": [{"field": "carbon_offset", "before": 1, "after": 2}], "from": "2026-03-01", "version": 2}
    assert describe("stored", text(later), "de", de) == "stored"
    assert describe("stored", text({"changes": "seats"}), "de", de) == "stored"
    assert describe("stored", text({"changes": []}), "de", de) == "stored"
    assert describe("stored", text(ended), "en", Locale.parse("en_GB")) == "stored"


def test_the_credit_note_an_ended_arrangement_proposes_gives_its_reason_and_lines_in_german(world: World) -> None:
    c = world.client("Abgang GmbH", locale="de_DE")
    a = world.arrangement(c.id, "retainer", name="Betrieb", fee="3100.00", starts_on="2026-01-01")
    march = world.issued(c.id, MARCH)
    out = world.call(contracts.end_arrangement, world.actor("finance"), c.id, a.id,
                     {"ends_on": "2026-03-15", "reason": "client left"})
    adj_id = out.preview.adjustments[0].id
    assert adj_id is not None
    done = world.call(contracts.credit_proposed, world.actor("finance"), adj_id)
    assert done.billed_on_invoice_id is not None
    note = world.call(invoicing.get_invoice, world.system, done.billed_on_invoice_id)
    english = "Betrieb — March 2026: ended on 2026-03-15 (client left) (credit)"
    assert note.reason == english and [ln.description for ln in note.lines] == [f"Credit for {march.number} (19% rate)"]
    page = _page(world, note.id)
    assert "Betrieb — März 2026: beendet am 15.03.2026 (client left) (Entgeltminderung)" in page and english not in page
    assert f"Korrektur zu {march.number} (Steuersatz 19 %)" in page
    doc = world.call(documents.invoice_document, world.system, note.id)
    assert _names(doc, "xrechnung-cii") == [f"Korrektur zu {march.number} (Steuersatz 19\xa0%)"]
    cii = xml(input_from_document(doc, SELLER, BUYER), "xrechnung-cii").decode()
    assert "beendet am 15.03.2026 (client left) (Entgeltminderung)" in cii and english not in cii
    pdf = " ".join(pdf_text(Renderer().pdf(doc)).split())
    assert "beendet am 15.03.2026" in pdf and "ended on" not in pdf and f"Korrektur zu {march.number}" in pdf
    # a credit note a person asks for keeps the reason as typed; its lines are German all the same
    typed = world.call(invoicing.create_credit_note, world.actor("finance"), march.id, "Goodwill", "10.00")
    page = _page(world, typed.id)
    assert "Goodwill" in page and f"Korrektur zu {march.number}" in page

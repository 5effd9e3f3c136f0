"""Generated invoice lines in the client's language (issue 12): the retainer, subscription, time, milestone,
pass-through and SLA credit lines billable writes are worded in German, Dutch or French on the document and in the
e-invoice's line names (month names too), the stored English description unchanged; a line without its wording as
data (typed by a person, or issued before lines carried it) keeps its stored description."""

from __future__ import annotations

import html as htmllib

from babel import Locale
from lxml import etree
from sqlalchemy import select

from channels.documents import Renderer
from channels.documents._lines import describe
from channels.documents.einvoice import xml
from domain.model.einvoice import Address, Party
from domain.model.lines import line_text
from domain.services import documents, invoicing
from domain.services.einvoice import input_from_document
from domain.store import tables
from tests.documents.conftest import full_client, issued_full
from tests.services.conftest import World

RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
SELLER = Party(name="Billable Demo GmbH", address=Address(lines=["Königstraße 10"], city="Stuttgart",
                                                           postcode="70173", country="DE"), vat_id="DE136695976")
BUYER = Party(name="Client", address=Address(lines=["Hafenstraße 3"], city="Hamburg", postcode="20457", country="DE"))


def _render(world: World, invoice_id: int) -> tuple[str, list[str]]:
    """The issued invoice's HTML (entities resolved) and its CII line names."""
    doc = world.call(documents.invoice_document, world.system, invoice_id)
    page = htmllib.unescape(Renderer().html(doc)).replace("\xa0", " ")
    root = etree.fromstring(xml(input_from_document(doc, SELLER, BUYER), "facturx"))
    names = [e.text or "" for e in root.iter(f"{{{RAM}}}Name")
             if e.getparent() is not None and e.getparent().tag.endswith("SpecifiedTradeProduct")]
    return page, names


def _stored(world: World, invoice_id: int) -> list[str]:
    return [ln.description for ln in world.call(invoicing.get_invoice, world.system, invoice_id).lines]


ENGLISH = ["Managed IT services — March 2026", "Managed EDR — 48 seats, March 2026",
           "Marta Kowalski (Senior engineer) — overage", "Milestone: Phase 1: assessment (completed 2026-03-10)",
           "2 × Cisco switches (cost 3480.00 + 12% markup)", "SLA credit: P1 e-mail outage"]
WORDED = {
    "de": ["Managed IT services — März 2026", "Managed EDR — 48 Lizenzen, März 2026",
           "Marta Kowalski (Senior engineer) — Mehrstunden 4,50 Std.", "Inklusivstunden genutzt — 2,00 von 2,00 Std.",
           "Meilenstein: Phase 1: assessment (abgeschlossen am 10.03.2026)",
           "2 × Cisco switches (Kosten 3.480,00 + 12 % Aufschlag)", "SLA-Gutschrift: P1 e-mail outage"],
    "nl": ["Managed IT services — maart 2026", "Managed EDR — 48 licenties, maart 2026",
           "Inbegrepen uren gebruikt — 2,00 van 2,00 uur", "Mijlpaal: Phase 1: assessment (afgerond op"],
    "fr": ["Managed IT services — mars 2026", "Managed EDR — 48 licences, mars 2026",
           "Heures incluses utilisées — 2,00 h sur 2,00 h", "Jalon : Phase 1: assessment (achevé le"],
}
LOCALES = {"de": "de_DE", "nl": "nl_NL", "fr": "fr_FR"}


def test_generated_lines_in_german_dutch_and_french_on_the_document_and_the_e_invoice(world: World) -> None:
    for language, expected in WORDED.items():
        inv = issued_full(world, name=f"Client {language}", locale=LOCALES[language])
        page, names = _render(world, inv.id)
        for text in expected:
            assert text in page, (language, text)
        assert any(n.startswith(expected[0]) for n in names) and any(n.startswith(expected[1]) for n in names), names
        assert not any("March" in n or "seats" in n or "Milestone" in n for n in names), (language, names)
        assert "March 2026" not in page and "Included hours used" not in page, language
        # the stored description stays English: the API, the audit trail and the accounting push read it
        stored = _stored(world, inv.id)
        assert any(d.startswith("Managed IT services — March 2026") for d in stored), stored


def test_english_is_unchanged_and_a_line_without_its_wording_keeps_its_description(world: World) -> None:
    inv = issued_full(world, name="Client en", locale="en_GB")
    page, names = _render(world, inv.id)
    for text in ENGLISH:
        assert text in page, text
    assert sorted(names) == sorted(_stored(world, inv.id))

    # an invoice issued before lines carried their wording: its stored (English) description, in every format
    cid = full_client(world, name="Client de", locale="de_DE")
    draft = world.draft(cid)
    with world.db.sessions.begin() as s:  # the draft's lines as drafted before they carried their wording
        for row in s.scalars(select(tables.InvoiceLineRow).where(tables.InvoiceLineRow.invoice_id == draft.id)):
            row.source = {k: v for k, v in row.source.items() if k != "text"}
    de = world.call(invoicing.issue_invoice, world.system, draft.id)
    if de.status == "pending_approval":
        de = world.call(invoicing.approve_invoice, world.actor("finance"), de.id)
    assert de.number is not None
    page, names = _render(world, de.id)
    assert "Managed IT services — March 2026" in page and "Managed EDR — 48 seats, March 2026" in page
    assert sorted(names) == sorted(_stored(world, de.id))
    assert "Rechnung" in page  # the labels are German all the same


def test_each_generated_wording_in_french_and_german() -> None:
    """The wordings the full client does not bill: a prorated retainer in arrears, a partial period, a tier, the
    cap, one seat; a key from a later version, or damaged params, fall back to the stored description."""
    fr, de = Locale.parse("fr_FR"), Locale.parse("de_DE")
    retainer = line_text("retainer", name="", start="2026-04-01", end="2026-04-30", arrears=1, share="50.00")
    assert describe("x", {"text": retainer}, "fr", fr).replace("\xa0", " ") == (
        "Forfait récurrent — avril 2026 (à terme échu) (au prorata, 50 %)")
    seat = line_text("subscription", product="EDR", seats=1, start="2026-04-10", end="2026-04-30", share="")
    assert describe("x", {"text": seat}, "de", de) == "EDR — 1 Lizenz, 10.04.2026 bis 30.04.2026"
    assert describe("x", {"text": line_text("tier", tier=2, hours="10.00")}, "de", de) == (
        "Nach Aufwand — Stufe 2, 10,00 Std.")
    assert describe("x", {"text": line_text("cap", cap="50000")}, "fr", fr).replace("\u202f", " ") == (
        "Plafond de 50 000 atteint — ajustement")
    assert describe("typed", {"text": {"key": "unknown", "params": {}}}, "de", de) == "typed"
    assert describe("typed", {"text": line_text("tier", hours="ten")}, "de", de) == "typed"
    assert describe("typed", {}, "de", de) == "typed"
    assert describe("Retainer — April 2026", {"text": retainer}, "en", Locale.parse("en_GB")) == (
        "Retainer — April 2026")

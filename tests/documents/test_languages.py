"""Documents in the client's language: the demo's German, Dutch and British invoices and a French client's, their
labels, terms and notes translated (and no English label left on a German one), the e-mails too; the catalogues
complete for every language, their placeholders kept, and the .pot up to date with the templates."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from channels.documents import Renderer
from channels.documents._i18n import LOCALE_DIR, catalogue_path, document_language, languages
from domain.model.roles import Actor
from domain.services import clients, documents, invoicing
from domain.services.demo import load_demo
from domain.store.session import Database
from tests.documents.conftest import issued_full
from tests.services.conftest import World

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = ("de", "fr", "nl")

# Labels the template prints, as the English source has them: none may be left on a translated document.
ENGLISH_LABELS = {
    "Invoice", "Credit note", "Bill to", "Issue date", "Period", "Due date", "Payment terms", "PO number",
    "Description", "Quantity", "Unit price", "Tax", "Amount", "Tax summary", "Rate", "Taxable amount", "Subtotal",
    "Total", "Paid", "Balance due", "Payment", "Retainer", "Time and materials", "Milestones", "Subscriptions",
    "Hardware and pass-through", "SLA credits", "Other items", "Corrects invoice", "Reason",
    # the parties' legal content (seller footer, buyer block, bank account)
    "Buyer reference", "Date of supply", "Exemption reason", "VAT ID", "Tax number", "Registration", "Contact",
    "Account holder", "Reverse charge",
}

# What each language must say: the title, some labels, the terms and the payment sentence.
EXPECTED = {
    "en": ["Invoice", "Bill to", "Issue date", "Due date", "Tax summary", "Balance due", "Time and materials",
           "Payable within 30 days, net", "Please pay", "48 seats"],
    "de": ["Rechnung", "Rechnungsempfänger", "Rechnungsdatum", "Leistungszeitraum", "Fälligkeitsdatum",
           "Zahlungsziel", "Zahlbar innerhalb von 30 Tagen ohne Abzug", "Umsatzsteuer", "Bemessungsgrundlage",
           "Offener Betrag", "Nach Aufwand", "Bitte überweisen Sie", "Verwendungszweck", "48 Lizenzen", "1 Zeitraum"],
    "nl": ["Factuur", "Gefactureerd aan", "Factuurdatum", "Vervaldatum", "Betalingstermijn",
           "Betaling binnen 30 dagen netto", "BTW-overzicht", "Openstaand bedrag", "Tijd en materiaal", "Gelieve",
           "48 licenties"],
    "fr": ["Facture", "Facturé à", "Date d'émission", "Date d'échéance", "Conditions de paiement",
           "Paiement à 30 jours net", "Récapitulatif de la TVA", "Solde dû", "Régie", "Merci de régler", "48 licences"],
}
REVERSE_CHARGE = {"en": "Reverse charge", "de": "Steuerschuldnerschaft des Leistungsempfängers",
                  "nl": "BTW verlegd", "fr": "Autoliquidation"}
LOCALES = {"en": "en_GB", "de": "de_DE", "nl": "nl_NL", "fr": "fr_FR"}


class _Labels(HTMLParser):
    """The text of the elements that hold labels: headings, table headers, the title, the section subtotals, the
    legal footer."""

    TAGS = frozenset({"title", "h1", "h2", "th", "tfoot", "footer"})

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.TAGS:
            self.depth += 1
            self.texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.TAGS:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth > 0:
            self.texts[-1] += data


# Words a language writes as English does ("Total HT" is French).
SAME_WORD = {"fr": {"Total", "Contact"}, "nl": {"Contact"}}


def english_labels_in(html: str, language: str = "en") -> set[str]:
    parser = _Labels()
    parser.feed(html)
    words = set()
    for text in parser.texts:
        for label in ENGLISH_LABELS - SAME_WORD.get(language, set()):
            if re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", text):
                words.add(label)
    return words


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.mark.parametrize("language", ["en", "de", "nl", "fr"])
def test_invoice_in_the_clients_language(world: World, renderer: Renderer, language: str) -> None:
    inv = issued_full(world, name=f"Client {language}", locale=LOCALES[language])
    doc = world.call(documents.invoice_document, world.system, inv.id)
    html = renderer.html(doc, {"pdf": "/i/x/pdf"})
    assert f'<html lang="{language}">' in html
    for text in EXPECTED[language]:
        assert text in html, (language, text)
    if language == "en":
        assert english_labels_in(html) >= {"Invoice", "Balance due", "Tax summary", "Retainer"}
    else:
        assert english_labels_in(html, language) == set(), language
        assert "days net" not in html and "Download the PDF" not in html and "Please pay" not in html


@pytest.mark.parametrize("language", ["en", "de", "nl", "fr"])
def test_reverse_charge_note_and_credit_note_in_the_clients_language(world: World, renderer: Renderer,
                                                                     language: str) -> None:
    inv = issued_full(world, name=f"Client {language}", locale=LOCALES[language], reverse_charge=True)
    html = renderer.html(world.call(documents.invoice_document, world.system, inv.id))
    assert REVERSE_CHARGE[language] in html and re.search(r"NL\d{9}B\d\d\.", html) and "2006/112/" in html
    if language == "en":
        assert inv.tax_note in html  # English shows the note exactly as frozen on the invoice
    else:
        assert "Reverse charge" not in html
    note = world.call(invoicing.create_credit_note, world.actor("finance"), inv.id, "Retainer billed twice", "100.00")
    html = renderer.html(world.call(documents.invoice_document, world.system, note.id))
    title = {"en": "Credit note", "de": "Rechnungskorrektur", "nl": "Creditnota", "fr": "Avoir"}[language]
    assert f"{title} {note.number}" in html and "Retainer billed twice" in html and inv.number in html
    if language != "en":
        assert english_labels_in(html, language) == set(), language


@pytest.mark.parametrize("language", ["en", "de", "nl", "fr"])
def test_emails_in_the_clients_language(world: World, renderer: Renderer, language: str) -> None:
    inv = issued_full(world, name=f"Client {language}", locale=LOCALES[language])
    doc = world.call(documents.invoice_document, world.system, inv.id)
    subject, body = renderer.email(doc, "invoice", "https://bills.example/i/tok")
    word = {"en": "Invoice", "de": "Rechnung", "nl": "Factuur", "fr": "Facture"}[language]
    assert subject == f"{word} {inv.number} from {doc.seller}".replace(" from ", {
        "en": " from ", "de": " von ", "nl": " van ", "fr": " de "}[language])
    assert "https://bills.example/i/tok" in body and inv.number in body and doc.seller in body
    reminders = {step: renderer.email(doc, "reminder", "https://bills.example/i/tok", step) for step in (-3, 0, 7)}
    expected = {"en": ("is due in 3 days", "is due today", "was due on"),
                "de": ("ist in 3 Tagen fällig", "ist heute fällig", "war am"),
                "nl": ("vervalt over 3 dagen", "vervalt vandaag", "is vervallen op"),
                "fr": ("arrive à échéance dans 3 jours", "arrive à échéance aujourd'hui", "était due le")}[language]
    for (step, (subject, body)), when in zip(reminders.items(), expected, strict=True):
        assert when in subject and when in body and inv.number in subject, (step, subject)
        assert "https://bills.example/i/tok" in body
    if language != "en":
        for subject, body in [renderer.email(doc, "invoice", "#"), *reminders.values()]:
            english = r"\b(Dear|Invoice|Reminder|please|invoice|is due|was due|Thank|still open)\b"
            assert not re.search(english, subject + body), body


def test_the_demos_invoices_are_in_their_clients_languages(db: Database, system: Actor, renderer: Renderer) -> None:
    load_demo(db.uow(), system)
    seen: dict[str, str] = {}
    for client in clients.list_clients(db.uow(), system):
        invs = invoicing.list_invoices(db.uow(), system, client_id=client.id)  # issued, or a draft's preview
        assert invs, client.name
        doc = documents.invoice_document(db.uow(), system, invs[0].id)
        html = renderer.html(doc)
        seen[client.name] = re.search(r'<html lang="(\w+)">', html).group(1)  # type: ignore[union-attr]
        title = {"de": "Rechnung", "nl": "Factuur", "en": "Invoice"}[seen[client.name]]
        number = invs[0].number or {"de": "ENTWURF", "nl": "CONCEPT", "en": "DRAFT"}[seen[client.name]]
        assert f"<h1>{title} {number}</h1>" in html
        if seen[client.name] != "en":
            assert english_labels_in(html) == set(), client.name
    assert seen == {"Nordwerk Maschinenbau GmbH": "de", "Van Dijk Logistiek B.V.": "nl", "Harbour & Finch Ltd": "en"}


def test_the_language_follows_the_client() -> None:
    assert document_language(None, "de_DE") == "de" and document_language("", "nl_BE") == "nl"
    assert document_language("fr", "de_DE") == "fr" and document_language("fr-CA", "en_GB") == "fr"
    assert document_language(None, "es_ES") == "en" and document_language("es", "de_DE") == "en"
    assert document_language(None, "") == "en" and document_language("xx-nonsense", "") == "en"
    assert set(languages()) >= {"en", "de", "nl", "fr"}


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_with_its_placeholders(language: str) -> None:
    with (LOCALE_DIR / "messages.pot").open("rb") as f:
        pot = {m.id for m in read_po(f) if m.id}
    with catalogue_path(language).open("rb") as f:
        po = read_po(f, locale=language)
    entries = {m.id: m for m in po if m.id}
    assert set(entries) == pot, "run `pybabel update` (see README, Documents): the catalogue and the .pot differ"
    for msgid, m in entries.items():
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(s.strip() for s in strings) and len(strings) == (po.num_plurals if m.pluralizable else 1), msgid
        assert not m.fuzzy, f"{language}: {msgid!r} is fuzzy: check it and remove the flag"
        names = set(re.findall(r"%\((\w+)\)", msgid if isinstance(msgid, str) else msgid[0]))
        if msgid != "Dear %(name)s,":  # a salutation may address the company, or not
            for s in strings:
                assert set(re.findall(r"%\((\w+)\)", s)) == names, (language, msgid, s)
    assert [(m.id, errors) for m, errors in po.check()] == []  # babel's own checks: placeholder kinds and types


def test_the_pot_is_up_to_date_with_the_templates(tmp_path: Path) -> None:
    out = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "pyproject.toml",
                    "-o", str(out)], cwd=ROOT, check=True, capture_output=True)
    with out.open("rb") as f:
        fresh = {m.id for m in read_po(f) if m.id}
    with (LOCALE_DIR / "messages.pot").open("rb") as f:
        stored = {m.id for m in read_po(f) if m.id}
    assert fresh == stored, ("run `pybabel extract -F pyproject.toml`, then `pybabel update` (README, Documents)",
                             sorted(map(str, fresh ^ stored)))


def test_the_clients_language_field_wins_over_its_locale(world: World, renderer: Renderer) -> None:
    """A Swiss client with locale de_CH that reads French: French labels, dates and numbers as written in French
    Switzerland (fr_CH), never a German month name in a French sentence."""
    c = world.client("Atelier Genève SA", currency="CHF", locale="de_CH", language="fr")
    assert c.language == "fr"
    inv = world.issued(world.retainer_client(fee="1234.50", name="Atelier Genève SA", locale="de_CH",
                                             language="fr", currency="CHF"))
    html = renderer.html(world.call(documents.invoice_document, world.system, inv.id))
    assert f"<h1>Facture {inv.number}</h1>" in html and "Solde dû" in html and "Rechnung" not in html
    assert "1 mai 2026" in html and "Mai 2026" not in html and "1&#39;234,50\xa0CHF" in html  # fr_CH

"""The built-in invoice PDF is Typst's (issue 17): it carries the invoice's text in the client's language, prints
what people typed literally (Typst's markup characters included), and a company's own HTML template still renders
through WeasyPrint."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest

from channels.documents import Renderer
from domain.services import documents, invoicing
from tests.documents.conftest import issued_full
from tests.documents.test_render import pdf_text
from tests.services.conftest import World

# every character Typst's markup gives a meaning to (#code, $math$, *strong*, _emph_, [content], \escape, <label>,
# @reference), and a "//" comment
TYPED = r"Bau #1 $5 *fett* _kursiv_ [x] \n <lbl> @ref // nix"


def producer(data: bytes) -> str:
    info = pypdf.PdfReader(io.BytesIO(data)).metadata or {}
    return " ".join(str(info.get(k, "")) for k in ("/Producer", "/Creator"))


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_the_german_invoice_pdf_is_typsts_with_its_number_totals_and_german_labels(world: World,
                                                                                   renderer: Renderer) -> None:
    inv = issued_full(world)
    doc = world.call(documents.invoice_document, world.system, inv.id)
    assert renderer.uses_typst(doc.client.id)
    data = renderer.pdf(doc)
    assert "Typst" in producer(data)
    text = flat(pdf_text(data))
    assert inv.number is not None and f"Rechnung {inv.number}" in text
    whole, cents = inv.total.split(".")
    total = f"{int(whole):,}".replace(",", ".") + "," + cents + "\xa0€"  # de_DE: 22.735,07 €
    assert f"Gesamtbetrag {flat(total)}" in text and "Offener Betrag" in text
    for label in ("Rechnungsempfänger", "Leistungszeitraum", "Zahlbar innerhalb von 30 Tagen ohne Abzug",
                  "Nach Aufwand", "Zwischensumme Nach Aufwand", "Umsatzsteuer", "Bemessungsgrundlage",
                  "1. März 2026 – 31. März 2026", "Managed EDR — 48 Lizenzen, März 2026"):
        assert label in text, label
    for english in ("Bill to", "Balance due", "Time and materials", "Tax summary"):
        assert english not in text, english
    # the SEPA payment QR code, drawn from its SVG, with its caption
    assert "<svg" in renderer.typst_view(doc) and "Mit Ihrer Banking-App scannen" in text


def test_what_people_typed_prints_literally(world: World, renderer: Renderer) -> None:
    inv = issued_full(world, name=TYPED)
    note = world.call(invoicing.create_credit_note, world.actor("finance"), inv.id, f"Grund: {TYPED}", "100.00")
    for invoice_id in (inv.id, note.id):
        doc = world.call(documents.invoice_document, world.system, invoice_id)
        text = flat(pdf_text(renderer.pdf(doc)))
        assert TYPED in text, text[:600]
    assert f"Grund: {TYPED}" in text


def test_the_pdf_a_3b_variant_says_so(world: World, renderer: Renderer) -> None:
    doc = world.call(documents.invoice_document, world.system, issued_full(world).id)
    reader = pypdf.PdfReader(io.BytesIO(renderer.pdf(doc, variant="pdf/a-3b")))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert "pdfaid:part>3<" in xmp or 'pdfaid:part="3"' in xmp
    with pytest.raises(ValueError, match="pdf/a-3b"):
        renderer.pdf(doc, variant="pdf/x-1")


def test_a_companys_own_html_template_renders_through_weasyprint(tmp_path: Path, world: World,
                                                                 renderer: Renderer) -> None:
    inv = issued_full(world)
    doc = world.call(documents.invoice_document, world.system, inv.id)
    (tmp_path / "invoice.html.j2").write_text("<p>OWN TEMPLATE {{ invoice.number }} {{ money(invoice.total) }}</p>")
    own = Renderer(tmp_path)
    assert not own.uses_typst(doc.client.id)
    data = own.pdf(doc)
    assert "WeasyPrint" in producer(data) and f"OWN TEMPLATE {inv.number}" in pdf_text(data)

    # one client's own template: that client's PDF is WeasyPrint's, the others' stay Typst's
    per_client = tmp_path / "per-client"
    (per_client / "clients" / str(doc.client.id)).mkdir(parents=True)
    (per_client / "clients" / str(doc.client.id) / "invoice.html.j2").write_text("<p>CLIENT {{ client.name }}</p>")
    r = Renderer(per_client)
    assert not r.uses_typst(doc.client.id) and r.uses_typst(doc.client.id + 1)
    assert "WeasyPrint" in producer(r.pdf(doc))

    # its own stylesheet for the built-in HTML: the PDF is WeasyPrint's, styled as it asks
    styled = tmp_path / "styled"
    styled.mkdir()
    (styled / "_style.css.j2").write_text("<style>body { font-size: 20pt; }</style>")
    r = Renderer(styled)
    assert not r.uses_typst(doc.client.id) and "WeasyPrint" in producer(r.pdf(doc))
    assert "Typst" in producer(renderer.pdf(doc))


@pytest.mark.parametrize("language", ["en", "de", "fr", "nl"])
def test_every_branch_of_the_typst_template_prints(language: str, renderer: Renderer) -> None:
    """Drafts, void and written-off invoices, every tax note, a credited amount, a line's included hours and an
    unknown unit, a credit note: each prints what the HTML prints for it (no database: the sample documents)."""
    from channels.documents._render import REVERSE_CHARGE_NOTE_UK, _sample

    base = _sample(False, language)
    line = base.invoice.lines[1].model_copy(update={"unit": "licence", "source": {"included_used": {"a": "2.5"}}})
    cases = {
        "draft": {"number": None, "status": "draft"},
        "void": {"status": "void"},
        "uncollectible": {"status": "uncollectible", "credited": "10.00"},
        "exempt": {"tax_note": "Exempt from tax: §4 Nr. 21 UStG"},
        "uk": {"tax_note": REVERSE_CHARGE_NOTE_UK},
        "other": {"tax_note": "A note of the workspace's own"},
        "lines": {"lines": [*base.invoice.lines[:1], line]},
    }
    for name, update in cases.items():
        doc = base.model_copy(update={"invoice": base.invoice.model_copy(update=update)})
        html_words = flat(_visible_text(renderer.html(doc, {"pdf": "https://billable.example/i/x/pdf"})))
        text = flat(pdf_text(renderer.pdf(doc, {"pdf": "https://billable.example/i/x/pdf"})))
        # every word of the HTML is in the PDF, in the same order (the PDF has no <title>)
        assert _in_order(html_words.split(), text.split()), (name, html_words[:300], text[:300])
    text = flat(pdf_text(renderer.pdf(_sample(True, language))))
    assert _in_order(flat(_visible_text(renderer.html(_sample(True, language)))).split(), text.split())


def _visible_text(html: str) -> str:
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.skip, self.out = 0, []  # type: ignore[var-annotated]

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.skip += tag in ("title", "style")

        def handle_endtag(self, tag: str) -> None:
            self.skip -= tag in ("title", "style")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.out.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join(parser.out)


def _in_order(words: list[str], text: list[str]) -> bool:
    """Whether `words` appear in `text` in this order (other words may come between)."""
    it = iter(text)
    return all(any(w == t for t in it) for w in words)


def test_a_word_longer_than_its_column_wraps_inside_it(renderer: Renderer) -> None:
    """A 300-character run without a space (a description, a PO number, a reason) breaks inside its column, as
    the HTML's would, instead of running over the quantity, price and amount and off the page."""
    from channels.documents._render import _sample

    long = "A" * 300
    for credit in (False, True):
        base = _sample(credit, "en")
        lines = [base.invoice.lines[0].model_copy(update={"description": long}), *base.invoice.lines[1:]]
        doc = base.model_copy(update={"invoice": base.invoice.model_copy(
            update={"lines": lines, "po_number": "PO" + long, "reason": "R" + long})})
        text = pdf_text(renderer.pdf(doc)).replace("\u200b", "")
        runs = [len(w) for w in text.split() if set(w) <= set("APOR")]
        # every character still printed, each line of it narrower than the description column
        assert sum(runs) >= (3 if credit else 2) * 300, runs
        assert max(runs) < 80, runs


def test_a_pdf_a_with_text_dejavu_cannot_draw_is_still_made(renderer: Renderer) -> None:
    """Typst refuses a PDF/A with a character no font it reads can draw (a Japanese buyer's name): the Factur-X
    container is then laid out by WeasyPrint, as before Typst, instead of failing to exist."""
    from channels.documents._render import _sample

    base = _sample(False, "en")
    name = "日本語クライアント株式会社"
    doc = base.model_copy(update={"buyer_party": base.buyer_party.model_copy(update={"legal_name": name})})
    data = renderer.pdf(doc, variant="pdf/a-3b")
    reader = pypdf.PdfReader(io.BytesIO(data))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert "pdfaid:part>3<" in xmp or 'pdfaid:part="3"' in xmp
    assert "INV-2026-000001" in pdf_text(data)
    assert "Typst" in producer(renderer.pdf(doc))  # the ordinary PDF stays Typst's

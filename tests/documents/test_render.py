"""Rendering: every section, the tax summary and totals in the client's locale, a reverse-charge invoice, a
credit note naming the invoice it corrects, the PDF's text; templates per workspace and client; a broken
template refused when loaded, with its line."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest
from babel import Locale

from channels.documents import Renderer, TemplateRefused
from channels.documents._lines import describe
from domain.services import documents, invoicing
from tests.documents.conftest import issued_full
from tests.services.conftest import World


def pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_every_section_with_tax_totals_and_terms_in_the_clients_locale(world: World, renderer: Renderer) -> None:
    inv = issued_full(world)
    sections = {ln.section for ln in inv.lines}
    assert sections >= {"retainer", "time", "milestone", "subscription", "pass_through", "sla_credit"}, sections
    doc = world.call(documents.invoice_document, world.actor("finance"), inv.id)
    html = renderer.html(doc)
    # German labels for a de_DE client (tests/documents/test_languages.py covers every language)
    for title in ("Pauschalvergütung", "Nach Aufwand", "Meilensteine", "Abonnements",
                  "Hardware und weiterberechnete Kosten", "SLA-Gutschriften", "Umsatzsteuer", "Offener Betrag",
                  "4500183920", "Zahlungsziel", "Nordwerk"):
        assert title in html, title
    assert inv.number is not None and inv.number in html
    # de_DE: 1.234,56 € and "31. März 2026"
    total = doc.invoice.total
    whole, cents = total.split(".")
    assert f"{int(whole):,}".replace(",", ".") + "," + cents + "\xa0€" in html
    assert "März 2026" in html
    assert "P1 e-mail outage" in html  # the breach on its SLA credit line
    assert "19\xa0%" in html or "19 %" in html

    text = pdf_text(renderer.pdf(doc))
    assert inv.number in text and "Nordwerk Maschinenbau GmbH" in text
    assert "SLA-Gutschriften" in text and "Hardware und weiterberechnete Kosten" in text
    de = Locale.parse("de_DE")  # each line as the German document words it (issue 12)
    for ln in inv.lines:
        worded = describe(ln.description, ln.source, "de", de)
        assert worded.split("\n")[0][:20] in text.replace("\n", " "), worded


def test_reverse_charge_invoice_carries_the_note_and_no_tax(world: World, renderer: Renderer) -> None:
    inv = issued_full(world, name="Van Dijk Logistiek B.V.", locale="nl_NL", reverse_charge=True)
    assert inv.tax_total in ("0.00",)
    doc = world.call(documents.invoice_document, world.system, inv.id)
    html = renderer.html(doc)
    assert "reverse-charge" in html and "NL819203476B01" in html
    assert inv.tax_note.startswith("Reverse charge") and "BTW verlegd" in pdf_text(renderer.pdf(doc))  # nl_NL


def test_credit_note_refers_to_the_invoice_it_corrects(world: World, renderer: Renderer) -> None:
    inv = issued_full(world)
    note = world.call(invoicing.create_credit_note, world.actor("finance"), inv.id, "Retainer billed twice",
                      "100.00")
    doc = world.call(documents.invoice_document, world.system, note.id)
    assert doc.corrects_number == inv.number
    text = pdf_text(renderer.pdf(doc))
    assert "Rechnungskorrektur" in text and f"Korrektur zu Rechnung {inv.number}" in text
    assert "Retainer billed twice" in text and "Offener Betrag" not in text


def test_account_manager_sees_only_their_clients_documents(world: World) -> None:
    from domain.errors import NotFound

    inv = issued_full(world)
    with pytest.raises(NotFound):
        world.call(documents.invoice_document, world.actor("account_manager"), inv.id)


def test_templates_per_workspace_and_per_client(tmp_path: Path, world: World) -> None:
    inv = issued_full(world)
    doc = world.call(documents.invoice_document, world.system, inv.id)
    (tmp_path / "invoice.html.j2").write_text("<p>WORKSPACE {{ invoice.number }} {{ money(invoice.total) }}</p>")
    (tmp_path / "clients" / str(doc.client.id)).mkdir(parents=True)
    r = Renderer(tmp_path)
    assert "WORKSPACE" in r.html(doc)
    (tmp_path / "clients" / str(doc.client.id) / "invoice.html.j2").write_text("<p>CLIENT {{ client.name }}</p>")
    assert "CLIENT Nordwerk" in Renderer(tmp_path).html(doc)


def test_a_broken_template_is_refused_on_load_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "invoice.html.j2").write_text("<p>\n<p>\n{% for x in invoice.lines %}\n<p>{{ x.amount }}\n")
    with pytest.raises(TemplateRefused) as e:
        Renderer(tmp_path)
    assert e.value.line == 4 and "endfor" in e.value.error

    (tmp_path / "invoice.html.j2").write_text("<p>ok</p>\n<p>{{ invoice.no_such_field }}</p>\n")
    with pytest.raises(TemplateRefused) as e:
        Renderer(tmp_path)
    assert e.value.line == 2 and "no_such_field" in e.value.error

    client = tmp_path / "clients" / "7"
    client.mkdir(parents=True)
    (tmp_path / "invoice.html.j2").write_text("<p>ok</p>")
    (client / "invoice.html.j2").write_text("{{ money( }}")
    with pytest.raises(TemplateRefused) as e:
        Renderer(tmp_path)
    assert e.value.path.endswith("clients/7/invoice.html.j2") and e.value.line == 1


def test_the_same_document_is_laid_out_once_and_a_changed_one_again(world: World) -> None:
    """A PDF is kept by its content's digest: asked for again, the same bytes without a new layout; a payment
    changes the content (paid, balance), so the next PDF says so."""
    renderer = Renderer()
    inv = issued_full(world)
    doc = world.call(documents.invoice_document, world.system, inv.id)
    first = renderer.pdf(doc)
    assert renderer.pdf(doc) is first and len(renderer._pdfs) == 1
    world.call(invoicing.record_payment, world.actor("finance"), inv.id, "100.00", inv.issue_date)
    paid = renderer.pdf(world.call(documents.invoice_document, world.system, inv.id))
    assert paid is not first and len(renderer._pdfs) == 2
    assert pdf_text(paid) != pdf_text(first) and "100,00" in pdf_text(paid)

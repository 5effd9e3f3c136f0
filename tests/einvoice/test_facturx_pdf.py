"""The Factur-X PDF is a real PDF/A-3 with the EN 16931 CII XML attached as an alternative representation."""

from __future__ import annotations

import io
import re

import pytest
from facturx import get_facturx_xml_from_pdf
from lxml import etree
from pypdf import PdfReader

from channels.documents import Renderer
from channels.documents._render import _sample, html_to_pdf
from channels.documents.einvoice import facturx_pdf, xml
from channels.documents.einvoice._embed import append_facturx
from tests.einvoice._rules import assert_valid
from tests.einvoice._samples import CASES


def test_facturx_pdf_is_pdfa3_with_the_xml_as_alternative() -> None:
    inp = CASES["domestic 19%"]
    pdf_a3 = Renderer().pdf(_sample(False), variant="pdf/a-3b")
    out = facturx_pdf(pdf_a3, inp)
    reader = PdfReader(io.BytesIO(out))

    # the attachment, byte for byte the XML the generator writes, and valid
    attached = reader.attachments
    assert list(attached) == ["factur-x.xml"]
    embedded = attached["factur-x.xml"][0]
    assert embedded == xml(inp, "facturx")
    assert_valid(embedded, "embedded factur-x.xml")

    # the catalog's /AF lists it, with AFRelationship Alternative (EN 16931 profile)
    root = reader.trailer["/Root"]
    af = [spec.get_object() for spec in root["/AF"]]
    assert [spec["/F"] for spec in af] == ["factur-x.xml"]
    assert af[0]["/AFRelationship"] == "/Alternative"

    # XMP: PDF/A-3 (part 3, conformance B) and the Factur-X extension schema naming the EN 16931 level
    xmp = root["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r"pdfaid:part(>|=\")3", xmp), xmp[:2000]
    assert re.search(r"pdfaid:conformance(>|=\")B", xmp)
    assert re.search(r"fx:ConformanceLevel(>|=\")EN 16931", xmp)
    assert re.search(r"fx:DocumentFileName(>|=\")factur-x.xml", xmp)
    # an output intent (sRGB) is what PDF/A asks of a PDF that uses colour: Typst's PDF/A export adds it
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"


def test_the_plain_pdf_stays_plain() -> None:
    plain = PdfReader(io.BytesIO(Renderer().pdf(_sample(False))))
    assert not plain.attachments
    assert "/AF" not in plain.trailer["/Root"]


def test_the_xml_is_appended_to_typsts_pdf_a_and_its_xmp_keeps_typsts_entries() -> None:
    inp = CASES["domestic 19%"]
    pdf_a3 = Renderer().pdf(_sample(False), variant="pdf/a-3b")
    out = facturx_pdf(pdf_a3, inp)
    # an incremental update: Typst's bytes unchanged, the attachment and the new catalog and XMP after them
    assert out.startswith(pdf_a3) and len(out) > len(pdf_a3)
    reader = PdfReader(io.BytesIO(out), strict=True)
    assert len(reader.pages) == len(PdfReader(io.BytesIO(pdf_a3)).pages)
    root = reader.trailer["/Root"]
    assert root["/Names"]["/EmbeddedFiles"]["/Names"][0] == "factur-x.xml"
    xmp = root["/Metadata"].get_object().get_data().decode("utf-8")
    etree.fromstring(xmp.encode("utf-8"))  # well-formed
    assert "<dc:title>" in xmp and "Typst" in xmp  # what Typst wrote, beside the Factur-X schema
    assert xmp.count("<pdfaSchema:prefix>fx</pdfaSchema:prefix>") == 1
    assert reader.trailer["/ID"] == PdfReader(io.BytesIO(pdf_a3)).trailer["/ID"]
    # the factur-x package itself finds the XML
    name, found = get_facturx_xml_from_pdf(out)
    assert (name, found) == ("factur-x.xml", xml(inp, "facturx"))


def test_a_pdf_a_with_a_cross_reference_stream_gets_the_xml_by_the_packages_rewrite() -> None:
    inp = CASES["domestic 19%"]
    pdf_a3 = html_to_pdf("<p>An own template</p>", "pdf/a-3b")  # WeasyPrint: a cross-reference stream
    assert append_facturx(pdf_a3, xml(inp, "facturx")) is None
    reader = PdfReader(io.BytesIO(facturx_pdf(pdf_a3, inp)))
    assert reader.attachments["factur-x.xml"][0] == xml(inp, "facturx")
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r"fx:ConformanceLevel(>|=\")EN 16931", xmp)


def test_an_xml_the_factur_x_xsd_refuses_makes_no_pdf() -> None:
    inp = CASES["domestic 19%"]
    pdf_a3 = Renderer().pdf(_sample(False), variant="pdf/a-3b")
    invalid = xml(inp, "facturx").replace(b"<rsm:ExchangedDocument>", b"<rsm:ExchangedDocument><rsm:Nope/>", 1)
    assert invalid != xml(inp, "facturx")
    with pytest.raises(Exception, match=r"(?i)xsd|schema"):
        facturx_pdf(pdf_a3, inp, invalid)

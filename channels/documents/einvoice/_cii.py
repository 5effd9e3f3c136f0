"""UN/CEFACT Cross Industry Invoice (D16B), as Factur-X / ZUGFeRD EN 16931 and XRechnung 3.0 CII write it.

Element order follows the Factur-X 1.0 EN16931 XSD; only business terms of the EN 16931 profile are written (the
Factur-X schematron reports any other as "not used in the given context").
"""

from __future__ import annotations

from datetime import date

from lxml import etree

from channels.documents.einvoice._xml import amount, el, number, opt, serialize
from domain.model.einvoice import CUSTOMIZATION, PEPPOL_PROFILE, EInvoiceInput, Line, Party

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}


def r(tag: str) -> str:
    return f"{{{RAM}}}{tag}"


def _date(parent: etree._Element, tag: str, d: date, ns: str = UDT) -> None:
    holder = el(parent, tag)
    el(holder, f"{{{ns}}}DateTimeString", d.strftime("%Y%m%d"), format="102")


def _party(parent: etree._Element, tag: str, p: Party, seller: bool) -> None:
    node = el(parent, r(tag))
    el(node, r("Name"), p.name)
    if seller and p.legal_info:
        el(node, r("Description"), p.legal_info)  # BT-33
    if p.registration:
        legal = el(node, r("SpecifiedLegalOrganization"))
        el(legal, r("ID"), p.registration)  # BT-30 / BT-47
    if p.contact_name or p.contact_phone or p.contact_email:
        contact = el(node, r("DefinedTradeContact"))
        opt(contact, r("PersonName"), p.contact_name)
        if p.contact_phone:
            el(el(contact, r("TelephoneUniversalCommunication")), r("CompleteNumber"), p.contact_phone)
        if p.contact_email:
            el(el(contact, r("EmailURIUniversalCommunication")), r("URIID"), p.contact_email)
    a = p.address
    addr = el(node, r("PostalTradeAddress"))
    opt(addr, r("PostcodeCode"), a.postcode)
    for tag, text in zip(("LineOne", "LineTwo", "LineThree"), a.lines, strict=False):
        opt(addr, r(tag), text)
    opt(addr, r("CityName"), a.city)
    el(addr, r("CountryID"), a.country)
    opt(addr, r("CountrySubDivisionName"), a.subdivision)
    endpoint = p.electronic_address()
    if endpoint is not None:
        el(el(node, r("URIUniversalCommunication")), r("URIID"), endpoint[0], schemeID=endpoint[1])
    if p.vat_id:
        el(el(node, r("SpecifiedTaxRegistration")), r("ID"), p.vat_id, schemeID="VA")
    if seller and p.tax_number:
        el(el(node, r("SpecifiedTaxRegistration")), r("ID"), p.tax_number, schemeID="FC")


def _line(parent: etree._Element, ln: Line, cur: str) -> None:
    item = el(parent, r("IncludedSupplyChainTradeLineItem"))
    doc = el(item, r("AssociatedDocumentLineDocument"))
    el(doc, r("LineID"), ln.id)
    if ln.note:
        el(el(doc, r("IncludedNote")), r("Content"), ln.note)
    el(el(item, r("SpecifiedTradeProduct")), r("Name"), ln.name)
    agreement = el(item, r("SpecifiedLineTradeAgreement"))
    el(el(agreement, r("NetPriceProductTradePrice")), r("ChargeAmount"), number(ln.price))
    el(el(item, r("SpecifiedLineTradeDelivery")), r("BilledQuantity"), number(ln.quantity), unitCode=ln.unit_code)
    settlement = el(item, r("SpecifiedLineTradeSettlement"))
    tax = el(settlement, r("ApplicableTradeTax"))
    el(tax, r("TypeCode"), "VAT")
    el(tax, r("CategoryCode"), ln.category)
    el(tax, r("RateApplicablePercent"), number(ln.rate))
    if ln.period_start and ln.period_end:
        period = el(settlement, r("BillingSpecifiedPeriod"))
        _date(period, r("StartDateTime"), ln.period_start)
        _date(period, r("EndDateTime"), ln.period_end)
    total = el(settlement, r("SpecifiedTradeSettlementLineMonetarySummation"))
    el(total, r("LineTotalAmount"), amount(ln.net_amount, cur))


def cii(inp: EInvoiceInput, fmt: str) -> bytes:
    """The CII XML of `inp` for `fmt` (facturx or xrechnung-cii)."""
    cur = inp.currency
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    ctx = el(root, f"{{{RSM}}}ExchangedDocumentContext")
    if fmt == "xrechnung-cii":
        el(el(ctx, r("BusinessProcessSpecifiedDocumentContextParameter")), r("ID"), PEPPOL_PROFILE)  # BT-23
    el(el(ctx, r("GuidelineSpecifiedDocumentContextParameter")), r("ID"), CUSTOMIZATION[fmt])  # BT-24

    doc = el(root, f"{{{RSM}}}ExchangedDocument")
    el(doc, r("ID"), inp.number)
    el(doc, r("TypeCode"), inp.type_code)
    _date(doc, r("IssueDateTime"), inp.issue_date)
    for note in inp.notes:
        el(el(doc, r("IncludedNote")), r("Content"), note)

    tx = el(root, f"{{{RSM}}}SupplyChainTradeTransaction")
    for ln in inp.lines:
        _line(tx, ln, cur)

    agreement = el(tx, r("ApplicableHeaderTradeAgreement"))
    opt(agreement, r("BuyerReference"), inp.buyer_reference)
    _party(agreement, "SellerTradeParty", inp.seller, seller=True)
    _party(agreement, "BuyerTradeParty", inp.buyer, seller=False)
    if inp.order_reference:
        el(el(agreement, r("BuyerOrderReferencedDocument")), r("IssuerAssignedID"), inp.order_reference)

    el(tx, r("ApplicableHeaderTradeDelivery"))

    settlement = el(tx, r("ApplicableHeaderTradeSettlement"))
    if not inp.is_credit_note:
        el(settlement, r("PaymentReference"), inp.number)  # BT-83: what to quote when paying
    el(settlement, r("InvoiceCurrencyCode"), cur)
    means = el(settlement, r("SpecifiedTradeSettlementPaymentMeans"))
    el(means, r("TypeCode"), inp.payment_means)
    if inp.iban:
        account = el(means, r("PayeePartyCreditorFinancialAccount"))
        el(account, r("IBANID"), inp.iban)
        opt(account, r("AccountName"), inp.account_name)
        if inp.bic:
            el(el(means, r("PayeeSpecifiedCreditorFinancialInstitution")), r("BICID"), inp.bic)
    for g in inp.tax_groups:
        tax = el(settlement, r("ApplicableTradeTax"))
        el(tax, r("CalculatedAmount"), amount(g.tax, cur))
        el(tax, r("TypeCode"), "VAT")
        opt(tax, r("ExemptionReason"), g.exemption_reason)
        el(tax, r("BasisAmount"), amount(g.taxable, cur))
        el(tax, r("CategoryCode"), g.category)
        opt(tax, r("ExemptionReasonCode"), g.exemption_code)
        el(tax, r("RateApplicablePercent"), number(g.rate))
    if inp.period_start and inp.period_end:
        period = el(settlement, r("BillingSpecifiedPeriod"))
        _date(period, r("StartDateTime"), inp.period_start)
        _date(period, r("EndDateTime"), inp.period_end)
    if inp.payment_terms or inp.due_date:
        terms = el(settlement, r("SpecifiedTradePaymentTerms"))
        opt(terms, r("Description"), inp.payment_terms)
        if inp.due_date and not inp.is_credit_note:
            _date(terms, r("DueDateDateTime"), inp.due_date)
    sums = el(settlement, r("SpecifiedTradeSettlementHeaderMonetarySummation"))
    el(sums, r("LineTotalAmount"), amount(inp.line_total, cur))
    el(sums, r("TaxBasisTotalAmount"), amount(inp.line_total, cur))
    el(sums, r("TaxTotalAmount"), amount(inp.tax_total, cur), currencyID=cur)
    el(sums, r("GrandTotalAmount"), amount(inp.total, cur))
    if inp.prepaid:
        el(sums, r("TotalPrepaidAmount"), amount(inp.prepaid, cur))
    el(sums, r("DuePayableAmount"), amount(inp.payable, cur))
    if inp.preceding_number:
        ref = el(settlement, r("InvoiceReferencedDocument"))
        el(ref, r("IssuerAssignedID"), inp.preceding_number)  # BT-25
        if inp.preceding_date:
            _date(ref, r("FormattedIssueDateTime"), inp.preceding_date, ns=QDT)  # BT-26
    return serialize(root)

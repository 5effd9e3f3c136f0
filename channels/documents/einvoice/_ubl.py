"""OASIS UBL 2.1 Invoice and CreditNote, as Peppol BIS Billing 3.0 and XRechnung 3.0 UBL write them.

Element order follows the UBL 2.1 maindoc XSDs. One document-level note (Peppol R002 allows one unless both parties
are German), both electronic addresses (Peppol R010/R020), no empty elements (R008).
"""

from __future__ import annotations

from lxml import etree

from channels.documents.einvoice._xml import amount, el, number, opt, serialize
from domain.model.einvoice import CUSTOMIZATION, PEPPOL_PROFILE, EInvoiceInput, Line, Party

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"


def b(tag: str) -> str:
    return f"{{{CBC}}}{tag}"


def a(tag: str) -> str:
    return f"{{{CAC}}}{tag}"


def _vat_scheme(parent: etree._Element, scheme: str = "VAT") -> None:
    el(el(parent, a("TaxScheme")), b("ID"), scheme)


def _party(parent: etree._Element, tag: str, p: Party, seller: bool) -> None:
    party = el(el(parent, a(tag)), a("Party"))
    endpoint = p.electronic_address()
    if endpoint is not None:
        el(party, b("EndpointID"), endpoint[0], schemeID=endpoint[1])
    el(el(party, a("PartyName")), b("Name"), p.name)
    addr = el(party, a("PostalAddress"))
    street = p.address.lines
    opt(addr, b("StreetName"), street[0] if street else None)
    opt(addr, b("AdditionalStreetName"), street[1] if len(street) > 1 else None)
    opt(addr, b("CityName"), p.address.city)
    opt(addr, b("PostalZone"), p.address.postcode)
    opt(addr, b("CountrySubentity"), p.address.subdivision)
    if len(street) > 2:
        el(el(addr, a("AddressLine")), b("Line"), street[2])
    el(el(addr, a("Country")), b("IdentificationCode"), p.address.country)
    if p.vat_id:
        scheme = el(party, a("PartyTaxScheme"))
        el(scheme, b("CompanyID"), p.vat_id)
        _vat_scheme(scheme)
    if seller and p.tax_number:
        scheme = el(party, a("PartyTaxScheme"))
        el(scheme, b("CompanyID"), p.tax_number)  # BT-32: a tax scheme other than VAT
        _vat_scheme(scheme, "FC")
    legal = el(party, a("PartyLegalEntity"))
    el(legal, b("RegistrationName"), p.name)
    opt(legal, b("CompanyID"), p.registration)
    if seller:
        opt(legal, b("CompanyLegalForm"), p.legal_info)
    if p.contact_name or p.contact_phone or p.contact_email:
        contact = el(party, a("Contact"))
        opt(contact, b("Name"), p.contact_name)
        opt(contact, b("Telephone"), p.contact_phone)
        opt(contact, b("ElectronicMail"), p.contact_email)


def _line(parent: etree._Element, ln: Line, cur: str, credit: bool) -> None:
    line = el(parent, a("CreditNoteLine" if credit else "InvoiceLine"))
    el(line, b("ID"), ln.id)
    opt(line, b("Note"), ln.note)
    el(line, b("CreditedQuantity" if credit else "InvoicedQuantity"), number(ln.quantity), unitCode=ln.unit_code)
    el(line, b("LineExtensionAmount"), amount(ln.net_amount, cur), currencyID=cur)
    if ln.period_start and ln.period_end:
        period = el(line, a("InvoicePeriod"))
        el(period, b("StartDate"), ln.period_start.isoformat())
        el(period, b("EndDate"), ln.period_end.isoformat())
    item = el(line, a("Item"))
    el(item, b("Name"), ln.name)
    category = el(item, a("ClassifiedTaxCategory"))
    el(category, b("ID"), ln.category)
    el(category, b("Percent"), number(ln.rate))
    _vat_scheme(category)
    el(el(line, a("Price")), b("PriceAmount"), number(ln.price), currencyID=cur)


def ubl(inp: EInvoiceInput, fmt: str) -> bytes:
    """The UBL 2.1 XML of `inp` for `fmt` (peppol or xrechnung-ubl): an Invoice, or a CreditNote for type 381."""
    cur, credit = inp.currency, inp.is_credit_note
    ns = CREDIT_NOTE_NS if credit else INVOICE_NS
    root = etree.Element(f"{{{ns}}}{'CreditNote' if credit else 'Invoice'}", nsmap={None: ns, "cac": CAC, "cbc": CBC})
    el(root, b("CustomizationID"), CUSTOMIZATION[fmt])
    el(root, b("ProfileID"), PEPPOL_PROFILE)
    el(root, b("ID"), inp.number)
    el(root, b("IssueDate"), inp.issue_date.isoformat())
    if inp.due_date and not credit:
        el(root, b("DueDate"), inp.due_date.isoformat())
    el(root, b("CreditNoteTypeCode" if credit else "InvoiceTypeCode"), inp.type_code)
    if inp.notes:
        el(root, b("Note"), "\n".join(inp.notes))
    el(root, b("DocumentCurrencyCode"), cur)
    opt(root, b("BuyerReference"), inp.buyer_reference)
    if inp.period_start and inp.period_end:
        period = el(root, a("InvoicePeriod"))
        el(period, b("StartDate"), inp.period_start.isoformat())
        el(period, b("EndDate"), inp.period_end.isoformat())
    if inp.order_reference:
        el(el(root, a("OrderReference")), b("ID"), inp.order_reference)
    if inp.preceding_number:
        ref = el(el(root, a("BillingReference")), a("InvoiceDocumentReference"))
        el(ref, b("ID"), inp.preceding_number)
        if inp.preceding_date:
            el(ref, b("IssueDate"), inp.preceding_date.isoformat())
    _party(root, "AccountingSupplierParty", inp.seller, seller=True)
    _party(root, "AccountingCustomerParty", inp.buyer, seller=False)

    means = el(root, a("PaymentMeans"))
    el(means, b("PaymentMeansCode"), inp.payment_means)
    if not credit:
        el(means, b("PaymentID"), inp.number)  # BT-83
    if inp.iban:
        account = el(means, a("PayeeFinancialAccount"))
        el(account, b("ID"), inp.iban)
        opt(account, b("Name"), inp.account_name)
        if inp.bic:
            el(el(account, a("FinancialInstitutionBranch")), b("ID"), inp.bic)
    if inp.payment_terms:
        el(el(root, a("PaymentTerms")), b("Note"), inp.payment_terms)

    total_tax = el(root, a("TaxTotal"))
    el(total_tax, b("TaxAmount"), amount(inp.tax_total, cur), currencyID=cur)
    for g in inp.tax_groups:
        sub = el(total_tax, a("TaxSubtotal"))
        el(sub, b("TaxableAmount"), amount(g.taxable, cur), currencyID=cur)
        el(sub, b("TaxAmount"), amount(g.tax, cur), currencyID=cur)
        category = el(sub, a("TaxCategory"))
        el(category, b("ID"), g.category)
        el(category, b("Percent"), number(g.rate))
        opt(category, b("TaxExemptionReasonCode"), g.exemption_code)
        opt(category, b("TaxExemptionReason"), g.exemption_reason)
        _vat_scheme(category)

    sums = el(root, a("LegalMonetaryTotal"))
    el(sums, b("LineExtensionAmount"), amount(inp.line_total, cur), currencyID=cur)
    el(sums, b("TaxExclusiveAmount"), amount(inp.line_total, cur), currencyID=cur)
    el(sums, b("TaxInclusiveAmount"), amount(inp.total, cur), currencyID=cur)
    if inp.prepaid:
        el(sums, b("PrepaidAmount"), amount(inp.prepaid, cur), currencyID=cur)
    el(sums, b("PayableAmount"), amount(inp.payable, cur), currencyID=cur)

    for ln in inp.lines:
        _line(root, ln, cur, credit)
    return serialize(root)

"""The built-in invoice PDF with Typst (issue 17: a new 30-line invoice in a fraction of WeasyPrint's CPU time).

Python decides every word and figure: `view()` turns the context the Jinja template gets into one JSON-able dict
of finished strings (labels translated by the same gettext catalogues and msgids as `invoice.html.j2`, money,
dates and numbers formatted by Babel, lines worded by `_lines.describe`), in the order the HTML prints them.
`templates/invoice.typ` only lays that out. The view reaches Typst as JSON in `sys.inputs`, so what people typed
(names, descriptions, a reason) is data that Typst prints as text, never markup it would interpret.

A company's own HTML template (`BILLABLE_TEMPLATES_DIR`) keeps WeasyPrint: see `Renderer.pdf`.
"""

from __future__ import annotations

import gettext
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).parent / "templates" / "invoice.typ"
# DejaVu Sans, the look's font, from the system package (Debian/Ubuntu fonts-dejavu-core, Fedora, Arch): never
# downloaded. Only these folders are read, so a machine's other fonts cannot change the look.
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu-sans-fonts", "/usr/share/fonts/dejavu",
             "/usr/share/fonts/TTF")
# WeasyPrint's `pdf_variant` names -> Typst's `pdf_standards`
STANDARDS = {None: [], "pdf/a-3b": ["a-3b"], "pdf/a-3u": ["a-3u"], "pdf/a-2b": ["a-2b"]}


def _plain(text: object) -> str:
    """Text as HTML shows it: runs of white space (new lines included) collapse to one space."""
    return " ".join(str(text).split())


def _unit(ln: Any, t: gettext.NullTranslations, count: Any) -> str:
    n = count(ln.quantity)
    if ln.unit == "seat":
        return t.ngettext("seat", "seats", n)
    if ln.unit == "period":
        return t.ngettext("period", "periods", n)
    if ln.unit == "item":
        return t.gettext("item")
    if ln.unit == "h":
        return t.gettext("h")
    return _plain(ln.unit)


def view(ctx: dict[str, Any], t: gettext.NullTranslations, qr_svg: str | None) -> dict[str, Any]:
    """The document as `invoice.typ` prints it: finished strings only, following `invoice.html.j2` line by line."""
    g = t.gettext
    inv, client, doc = ctx["invoice"], ctx["client"], ctx["doc"]
    seller_party, buyer_party = ctx["seller_party"], ctx["buyer_party"]
    money, fdate, number, percent = ctx["money"], ctx["fdate"], ctx["number"], ctx["percent"]
    address_lines, credit = ctx["address_lines"], ctx["is_credit_note"]

    stamp = {"void": g("VOID"), "uncollectible": g("UNCOLLECTIBLE")}.get(inv.status, "")
    bill_to = [buyer_party.legal_name or client.name, *address_lines(buyer_party.address)]
    if buyer_party.vat_id:
        bill_to.append(g("VAT ID: %(vat_id)s") % {"vat_id": buyer_party.vat_id})
    bill_to += list(client.billing_emails)
    meta: list[tuple[str, list[str]]] = [(g("Bill to"), bill_to)]
    if buyer_party.buyer_reference:
        meta.append((g("Buyer reference"), [buyer_party.buyer_reference]))
    if inv.issue_date:
        meta.append((g("Issue date"), [fdate(inv.issue_date)]))
    if inv.period_start:
        meta.append((g("Period"), [f"{fdate(inv.period_start)} – {fdate(inv.period_end)}"]))
    elif inv.issue_date:
        meta.append((g("Date of supply"), [fdate(inv.issue_date)]))
    if not credit and inv.due_date:
        meta.append((g("Due date"), [fdate(inv.due_date)]))
    if not credit:
        days = doc.payment_terms_days
        meta.append((g("Payment terms"), [t.ngettext("Payable within %(num)d day, net",
                                                     "Payable within %(num)d days, net", days) % {"num": days}]))
    if inv.po_number:
        meta.append((g("PO number"), [inv.po_number]))
    if credit:
        meta.append((g("Corrects invoice"), [doc.corrects_number or "—"]))
        if inv.reason:
            meta.append((g("Reason"), [inv.reason]))

    sections = []
    for section in ctx["sections"]:
        lines = []
        for ln in section["lines"]:
            used = ln.source.get("included_used")
            note = f"{g('Included hours used:')} {', '.join(number(v) for v in used.values())}" if used else ""
            lines.append([ln.description, note, f"{number(ln.quantity)} {_unit(ln, t, ctx['count'])}",
                          money(ln.unit_price), percent(ln.tax_rate), money(ln.amount)])
        sections.append({"title": section["title"], "lines": lines,
                         "subtotal": [g("%(section)s subtotal") % {"section": section["title"]},
                                      money(section["subtotal"])]})

    tax_note = ctx["tax_note"]
    kind = tax_note["kind"]
    treatment = (g("Reverse charge") if kind in ("reverse_charge", "reverse_charge_uk")
                 else tax_note["detail"] if kind == "exempt" else "")
    tax_head = [g("Rate"), g("Taxable amount"), g("Tax")] + ([g("Exemption reason")] if treatment else [])
    tax_rows = [[percent(r["rate"]), money(r["taxable"]), money(r["tax"])] + ([treatment] if treatment else [])
                for r in inv.tax_by_rate]
    sums = [[g("Subtotal"), money(inv.subtotal), ""], [g("Tax"), money(inv.tax_total), ""],
            [g("Total"), money(inv.total), "strong"]]
    if not credit:
        sums.append([g("Paid"), money(inv.paid), ""])
        if ctx["nonzero"](inv.credited):
            sums.append([g("Credited"), money(inv.credited), ""])
        if inv.status not in ("void", "uncollectible"):
            sums.append([g("Balance due"), money(inv.balance), "strong"])

    note = ""
    if inv.tax_note:
        vat = g("Customer VAT ID: %(vat_id)s.") % {"vat_id": tax_note["detail"]} if tax_note["detail"] else ""
        if kind == "reverse_charge":
            note = " ".join(filter(None, (g("Reverse charge: VAT to be accounted for by the recipient (Article 196, "
                                            "Council Directive 2006/112/EC)."), vat)))
        elif kind == "reverse_charge_uk":
            note = " ".join(filter(None, (g("Reverse charge: customer to account for the VAT to HMRC (VAT Act 1994, "
                                            "section 8)."), vat)))
        elif kind == "exempt":
            note = g("Exempt from tax: %(reason)s") % {"reason": tax_note["detail"]}
        else:
            note = inv.tax_note

    pay: dict[str, Any] | None = None
    if not credit and inv.status == "void":
        pay = {"title": "", "paragraphs": [g("This invoice is void: nothing is to be paid.")]}
    elif not credit and inv.status == "uncollectible":
        pay = {"title": "", "paragraphs": [g("This invoice was written off: no payment is requested.")]}
    elif not credit:
        paragraphs: list[str | list[str]] = [ctx["payment_instructions"]]
        bank = seller_party.bank_account
        if bank.iban:
            holder = g("Account holder: %(holder)s") % {
                "holder": bank.account_holder or seller_party.legal_name or ctx["seller"]}
            account = " · ".join(filter(None, (g("IBAN: %(iban)s") % {"iban": ctx["iban"](bank.iban)},
                                                g("BIC: %(bic)s") % {"bic": bank.bic} if bank.bic else "",
                                                bank.bank_name)))
            paragraphs.append([holder, account])
        if inv.due_date and inv.number:
            paragraphs.append(g("Please pay %(amount)s by %(date)s, quoting %(number)s.") % {
                "amount": money(inv.balance), "date": fdate(inv.due_date), "number": inv.number})
        elif inv.due_date:
            paragraphs.append(g("Please pay %(amount)s by %(date)s, quoting the invoice number.") % {
                "amount": money(inv.balance), "date": fdate(inv.due_date)})
        pay = {"title": g("Payment"), "paragraphs": paragraphs}
        if qr_svg:
            pay["qr"] = {"svg": qr_svg, "alt": g("SEPA payment QR code"),
                         "caption": g("Scan with your banking app to pay by SEPA transfer.")}

    footer = [" · ".join([seller_party.legal_name or ctx["seller"], *address_lines(seller_party.address)])]
    ids = [g("VAT ID: %(vat_id)s") % {"vat_id": seller_party.vat_id} if seller_party.vat_id else "",
           g("Tax number: %(number)s") % {"number": seller_party.tax_number} if seller_party.tax_number else "",
           g("Registration: %(registration)s") % {"registration": seller_party.registration}
           if seller_party.registration else ""]
    if any(ids):
        footer.append(" · ".join(filter(None, ids)))
    c = seller_party.contact
    if c.name or c.email or c.phone:
        footer.append(g("Contact: %(contact)s") % {"contact": " · ".join(filter(None, (c.name, c.email or "",
                                                                                      c.phone)))})
    links = ctx["links"]
    heading = f"{ctx['title']} {inv.number or g('DRAFT')}"
    out = {
        "lang": ctx["language"],
        "document_title": f"{ctx['title']} {inv.number or g('(draft)')} · {ctx['seller']}",
        "seller": ctx["seller"], "seller_address": " · ".join(address_lines(seller_party.address)),
        "heading": heading, "stamp": stamp, "meta": meta,
        "columns": [g("Description"), g("Quantity"), g("Unit price"), g("Tax"), g("Amount")],
        "sections": sections, "tax_title": g("Tax summary"), "tax_head": tax_head, "tax_rows": tax_rows,
        "sums": sums, "tax_note": note, "pay": pay, "footer": footer,
        "pdf_link": [g("Download the PDF"), links["pdf"]] if links.get("pdf") else None,
    }
    collapsed: dict[str, Any] = _collapsed(out)
    return collapsed


def _collapsed(value: Any) -> Any:
    """Every string of the view with its white space collapsed as HTML does (the QR code's SVG is kept)."""
    if isinstance(value, str):
        return _plain(value)
    if isinstance(value, dict):
        return {k: v if k == "svg" else _collapsed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_collapsed(v) for v in value]
    return value


def qr_svg(qr: Any) -> str | None:
    """A segno QR code as SVG text for Typst (None stays None)."""
    if qr is None:
        return None
    buf = io.BytesIO()
    qr.save(buf, kind="svg", scale=3, border=2, xmldecl=False)
    return buf.getvalue().decode()


def _font_dirs() -> list[str]:
    return [d for d in FONT_DIRS if Path(d, "DejaVuSans.ttf").is_file()]


_local = threading.local()
_state = {"used": False, "forked_after_use": False}


def _after_fork() -> None:
    _state["forked_after_use"] = _state["used"]


# Typst's worker threads do not survive a fork: a process forked after a PDF was made would wait for them forever
# (seen with the 0.15 wheel). Such a child gets an error that says so instead; start workers by spawning them.
os.register_at_fork(after_in_child=_after_fork)


def _compiler() -> Any:
    """This thread's Typst compiler: made once (it reads the template and the fonts), reused for every PDF."""
    if _state["forked_after_use"]:
        raise RuntimeError("this process was forked from one that had made a Typst PDF, and Typst cannot run in it "
                           "(its threads did not survive the fork): start worker processes with spawn, not fork")
    compiler = getattr(_local, "compiler", None)
    if compiler is None:
        import typst  # the native module, loaded when the first PDF is made

        # DejaVu first (the template names it); the system's fonts stay readable as Typst's fallback for glyphs
        # DejaVu lacks (a Japanese or Chinese name prints in the machine's CJK font, as WeasyPrint's did, not as
        # boxes), and serve alone where DejaVu is missing. Reading them costs ~2 ms once per thread here.
        compiler = typst.Compiler(str(TEMPLATE), root=str(TEMPLATE.parent), font_paths=_font_dirs(),
                                  ignore_system_fonts=False)
        _local.compiler = compiler
    return compiler


def view_json(v: dict[str, Any]) -> str:
    """The view as Typst reads it (and as the PDF cache keys it)."""
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


class Undisplayable(Exception):
    """A PDF/A Typst refuses: some text has no glyph in the fonts it reads (a Japanese or Chinese name, say), and
    PDF/A forbids printing a character as a blank box."""


def typst_pdf(data: str, variant: str | None = None) -> bytes:
    """The PDF of a view (`view_json`), PDF/A-3b when `variant` is "pdf/a-3b" (the Factur-X container). Raises
    `Undisplayable` for a PDF/A with text no font can draw."""
    if variant not in STANDARDS:
        raise ValueError(f"unknown PDF variant {variant!r}; known: {sorted(k for k in STANDARDS if k)}")
    compiler = _compiler()
    _state["used"] = True
    try:
        # untagged, as WeasyPrint's were: tags more than double the file (48 -> 106 KiB for 30 lines, every e-mail)
        pdf: bytes = compiler.compile(format="pdf", sys_inputs={"view": data}, pdf_standards=STANDARDS[variant],
                                      pdf_tags=False)
    except Exception as e:  # typst.TypstError: its module is only imported with the first PDF
        if STANDARDS[variant] and "could not be displayed" in str(e):
            raise Undisplayable(str(e)) from e
        raise
    return pdf

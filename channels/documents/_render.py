"""Template loading, validation and rendering (see the package docstring)."""

from __future__ import annotations

import gettext
import hashlib
import threading
from collections import OrderedDict
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from channels.documents._i18n import N_, SOURCE_LANGUAGE, document_language, languages, translations
from channels.documents._lines import describe, describe_reason
from channels.documents._qr import epc_qr, payment_qr
from channels.documents._typst import Undisplayable, qr_svg, typst_pdf, view, view_json
from domain.model.parties import Buyer, DocumentLanguage, PostalAddress, Seller
from domain.model.tax import REVERSE_CHARGE_NOTE, REVERSE_CHARGE_NOTE_UK
from domain.services.documents import DocumentView
from domain.services.views import ClientView, InvoiceView, LineView
from domain.settings import Settings, get_settings

BUILTIN = Path(__file__).parent / "templates"
TEMPLATE_NAME = "invoice.html.j2"
EMAILS = ("invoice", "reminder")  # email/<kind>.txt.j2: the subject, a blank line, the body
PDF_CACHE = 64  # PDFs kept per renderer (20-100 KiB each)
DEFAULT_PAYMENT_INSTRUCTIONS = N_("Please pay by bank transfer, quoting the invoice number as the reference.")
CUSTOMER_VAT_ID = " Customer VAT ID: "  # how TaxProfile.invoice_note appends the buyer's VAT ID to the note
EXEMPT_PREFIX = "Exempt from tax: "

# Sections in the order they are printed, with their titles (translated when shown).
SECTION_TITLES: dict[str, str] = {
    "retainer": N_("Retainer"),
    "time": N_("Time and materials"),
    "milestone": N_("Milestones"),
    "subscription": N_("Subscriptions"),
    "pass_through": N_("Hardware and pass-through"),
    "sla_credit": N_("SLA credits"),
    "manual": N_("Other items"),
}


class TemplateRefused(Exception):
    """A template that does not compile or does not render a sample invoice: refused when loaded."""

    def __init__(self, path: str, line: int | None, error: str) -> None:
        self.path, self.line, self.error = path, line, error
        super().__init__(f"{path}" + (f", line {line}" if line else "") + f": {error}")


def _locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag or "en_GB")
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en_GB")


class _Formats:
    """The filters templates use, bound to one document's locale and currency. A client whose language is not its
    locale's (de_CH, reading French) gets its territory's conventions in its language (fr_CH): month names in the
    document's language, never a German month in a French sentence."""

    def __init__(self, locale: str, currency: str, language: str | None = None) -> None:
        self.locale = _locale(locale)
        if language and language != self.locale.language:
            self.locale = _locale(f"{language}_{self.locale.territory}" if self.locale.territory else language)
            if self.locale.language != language:  # no such pairing (e.g. nl_JP): the language's own conventions
                self.locale = _locale(language)
        self.currency = currency

    def money(self, amount: str | Decimal) -> str:
        return str(format_currency(Decimal(amount), self.currency, locale=self.locale))

    def date(self, d: date | datetime | None, fmt: str = "long") -> str:
        return "" if d is None else str(format_date(d, format=fmt, locale=self.locale))

    def number(self, value: str | Decimal) -> str:
        return str(format_decimal(Decimal(value), locale=self.locale))

    def percent(self, rate: str | Decimal) -> str:
        return f"{format_decimal(Decimal(rate), locale=self.locale)} %"


def _sections(inv: InvoiceView, t: gettext.NullTranslations, language: str = SOURCE_LANGUAGE,
              loc: Locale | None = None) -> list[dict[str, Any]]:
    by: dict[str, list[LineView]] = {}
    for ln in inv.lines:
        wording = describe(ln.description, ln.source, language, loc or _locale(""))
        by.setdefault(ln.section, []).append(ln if wording == ln.description
                                             else ln.model_copy(update={"description": wording}))
    order = [s for s in SECTION_TITLES if s in by] + [s for s in by if s not in SECTION_TITLES]
    out = []
    for key in order:
        lines = by[key]
        subtotal = sum((Decimal(ln.amount) for ln in lines), Decimal(0))
        title = t.gettext(SECTION_TITLES[key]) if key in SECTION_TITLES else key.replace("_", " ").capitalize()
        out.append({"key": key, "title": title,
                    "lines": lines, "subtotal": subtotal})
    return out


def _tax_note(note: str) -> dict[str, str]:
    """The invoice's stored tax note (English, frozen at issue: `TaxProfile.invoice_note`) taken apart, so that
    the template words it in the document's language: kind `reverse_charge` (detail: the buyer's VAT ID),
    `exempt` (detail: the workspace's own reason, shown as written) or `other` (shown as stored)."""
    for kind, prefix in (("reverse_charge", REVERSE_CHARGE_NOTE), ("reverse_charge_uk", REVERSE_CHARGE_NOTE_UK)):
        if note.startswith(prefix):
            rest = note[len(prefix):]
            vat_id = rest[len(CUSTOMER_VAT_ID):].removesuffix(".") if rest.startswith(CUSTOMER_VAT_ID) else ""
            if rest in ("", f"{CUSTOMER_VAT_ID}{vat_id}."):
                return {"kind": kind, "detail": vat_id}
    if note.startswith(EXEMPT_PREFIX):
        return {"kind": "exempt", "detail": note[len(EXEMPT_PREFIX):]}
    return {"kind": "other", "detail": note}


def _count(quantity: str | Decimal) -> int:
    """The number gettext picks a plural form by (a whole one; 1.5 seats are plural)."""
    q = Decimal(quantity)
    return int(q) if q == q.to_integral_value() else 2


def language_of(doc: DocumentView) -> str:
    """The document's language: the client's `language` (set from its locale unless chosen)."""
    return document_language(doc.client.language, doc.locale)


def _qr(doc: DocumentView) -> Any:
    """The document's SEPA payment QR code (a segno code), or None: not on a credit note or a draft."""
    inv = doc.invoice
    if inv.kind == "credit_note" or not inv.number:
        return None
    return epc_qr(doc.payee_name, doc.payee_iban, inv.balance, inv.currency, inv.number, doc.payee_bic)


def _context(doc: DocumentView, links: dict[str, str] | None = None, payment_instructions: str = "",
             qr: bool = True) -> dict[str, Any]:
    """What a template is rendered with; `qr=False` leaves the QR code's data URI out (the Typst PDF draws it
    from its SVG)."""
    inv = doc.invoice
    credit = inv.kind == "credit_note"
    language = language_of(doc)
    f = _Formats(doc.locale, inv.currency, language)
    t = translations(language)
    if credit and inv.reason:
        reason = describe_reason(inv.reason, [ln.source for ln in inv.lines], language, f.locale)
        inv = inv if reason == inv.reason else inv.model_copy(update={"reason": reason})
    return {
        "doc": doc, "invoice": inv, "client": doc.client, "seller": doc.seller, "language": language,
        "title": t.gettext("Credit note") if credit else t.gettext("Invoice"), "is_credit_note": credit,
        "sections": _sections(inv, t, language, f.locale), "links": links or {},
        "payment_instructions": payment_instructions or t.gettext(DEFAULT_PAYMENT_INSTRUCTIONS),
        "reverse_charge": "reverse charge" in inv.tax_note.lower(), "tax_note": _tax_note(inv.tax_note),
        "seller_party": doc.seller_party, "buyer_party": doc.buyer_party,
        "nonzero": lambda v: Decimal(v) != 0, "count": _count,
        "money": f.money, "fdate": f.date, "number": f.number, "percent": f.percent,
        "payment_qr": None if credit or not inv.number or not qr else payment_qr(
            doc.payee_name, doc.payee_iban, inv.balance, inv.currency, inv.number, doc.payee_bic),
        "address_lines": lambda a: _address_lines(a, language), "iban": _iban,
    }


def _address_lines(address: PostalAddress | dict[str, str], language: str) -> list[str]:
    """An address as printed, the country named in the document's language (a dict: a frozen snapshot's)."""
    a = address if isinstance(address, PostalAddress) else PostalAddress.model_construct(**address)
    place = " ".join(p for p in (a.postcode, a.city) if p)
    country = _locale(language).territories.get(a.country, a.country) if a.country else ""
    return [p for p in (a.street, a.additional, place, a.region, country) if p]


def _iban(value: str) -> str:
    """An IBAN in groups of four, as printed."""
    compact = value.replace(" ", "")
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


class Renderer:
    """Loads and checks the templates once; renders documents to HTML and PDF, and their e-mails, in the client's
    language. Thread-safe."""

    def __init__(self, folder: str | Path | None = None, payment_instructions: str = "") -> None:
        self.folder = Path(folder) if folder else None
        self.payment_instructions = payment_instructions
        if self.folder is not None and not self.folder.is_dir():
            raise TemplateRefused(str(self.folder), None, "the templates folder does not exist")
        loaders: list[jinja2.BaseLoader] = []
        if self.folder is not None:
            loaders.append(jinja2.FileSystemLoader(str(self.folder)))
        loaders.append(jinja2.FileSystemLoader(str(BUILTIN)))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=_autoescape,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                      extensions=["jinja2.ext.i18n"])
        # New-style gettext (`_("Due %(date)s", date=...)` escapes what it fills in), in the language the render
        # context names: one compiled template serves every language.
        self.env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
        self._lock = threading.Lock()
        self._pdfs: OrderedDict[bytes, bytes] = OrderedDict()  # content digest -> PDF, least recently used first
        # a company's own stylesheet styles the built-in HTML: its PDF stays WeasyPrint's, styled as it asks
        self.own_style = self.folder is not None and (self.folder / "_style.css.j2").is_file()
        for name in self._names():
            self._check(name)

    def _names(self) -> list[str]:
        names = [TEMPLATE_NAME, *(f"email/{kind}.txt.j2" for kind in EMAILS)]
        if self.folder is not None:
            names += sorted(str(p.relative_to(self.folder)) for p in self.folder.rglob("*.j2"))
        return list(dict.fromkeys(names))

    def _check(self, name: str) -> None:
        """Compile, then render the sample invoice and credit note in every language: errors name the file and
        the line (a translation with a broken placeholder is caught here too)."""
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateRefused(e.filename or name, e.lineno, e.message or str(e)) from e
        kind = next((k for k in EMAILS if name.endswith(f"email/{k}.txt.j2")), None)
        if kind is None and not name.endswith(TEMPLATE_NAME):
            return  # a partial, compiled; checked through the templates that include it
        steps = (-3, 0, 7) if kind == "reminder" else (0,)
        for sample, step in ((_sample(credit, language), step) for language in languages()
                             for credit in (False, True) for step in steps):
            ctx = _context(sample, {"pdf": "#", "page": "#"}, self.payment_instructions)
            try:
                template.render({**ctx, "link": "#", "step": step} if kind else ctx)
            except jinja2.TemplateError as e:
                raise TemplateRefused(template.filename or name, _error_line(e, template), str(e)) from e
            except Exception as e:
                raise TemplateRefused(template.filename or name, _error_line(e, template),
                                      f"{type(e).__name__}: {e}") from e

    def template_for(self, client_id: int, name: str = TEMPLATE_NAME) -> jinja2.Template:
        with self._lock:
            return self.env.select_template([f"clients/{client_id}/{name}", name])

    def html(self, doc: DocumentView, links: dict[str, str] | None = None) -> str:
        return self.template_for(doc.client.id).render(_context(doc, links, self.payment_instructions))

    def email(self, doc: DocumentView, kind: str, link: str, step: int = 0) -> tuple[str, str]:
        """The subject and plain-text body of the document's e-mail (`invoice`, or a `reminder` `step` days from
        the due date), in the client's language, from `email/<kind>.txt.j2` (per client: `clients/<id>/email/...`)."""
        # no QR code: plain text cannot show it, and making one costs ~6 ms (the worker sends thousands)
        ctx = _context(doc, None, self.payment_instructions, qr=False)
        text = self.template_for(doc.client.id, f"email/{kind}.txt.j2").render(
            {**ctx, "link": link, "step": step})
        subject, _, body = text.strip().partition("\n\n")
        return " ".join(subject.split()), body.strip() + "\n"

    def uses_typst(self, client_id: int) -> bool:
        """Whether the client's PDF is the built-in Typst one: yes unless a company's own HTML template (its
        `invoice.html.j2`, the client's, or its `_style.css.j2`) is in use, which WeasyPrint renders as before."""
        if self.own_style:
            return False
        filename = self.template_for(client_id).filename
        return filename is not None and Path(filename) == BUILTIN / TEMPLATE_NAME

    def pdf(self, doc: DocumentView, links: dict[str, str] | None = None, variant: str | None = None) -> bytes:
        """The PDF: the built-in template's with Typst (~30 ms CPU for 30 lines), a company's own HTML template's
        with WeasyPrint (~0.4 s). A PDF is a pure function of what it prints (the Typst view's JSON, or the HTML),
        so the last few are kept by its digest: the same document asked for again (the hosted page's download, the
        API, an e-mail retry) costs one view or template render instead of a layout; a changed invoice (a payment,
        a status) is new content, so never a stale PDF. `variant` ("pdf/a-3b" for the Factur-X container) is part
        of the key."""
        if self.uses_typst(doc.client.id):
            engine, content = "typst", self.typst_view(doc, links)
        else:
            engine, content = "weasyprint", self.html(doc, links)
        key = hashlib.sha256(f"{engine}\n{variant}\n{content}".encode()).digest()
        with self._lock:
            hit = self._pdfs.get(key)
            if hit is not None:
                self._pdfs.move_to_end(key)
                return hit
        if engine == "weasyprint":
            pdf = html_to_pdf(content, variant)
        else:
            try:
                pdf = typst_pdf(content, variant)
            except Undisplayable:
                # text DejaVu Sans has no glyph for (a Japanese buyer's name) fails Typst's PDF/A check, so the
                # Factur-X container could not be made at all: WeasyPrint lays that one out, as before issue 17
                pdf = html_to_pdf(self.html(doc, links), variant)
        with self._lock:
            self._pdfs[key] = pdf
            while len(self._pdfs) > PDF_CACHE:
                self._pdfs.popitem(last=False)
        return pdf

    def typst_view(self, doc: DocumentView, links: dict[str, str] | None = None) -> str:
        """The JSON the Typst template prints: every label, figure and line as the built-in HTML words it."""
        ctx = _context(doc, links, self.payment_instructions, qr=False)
        return view_json(view(ctx, translations(ctx["language"]), qr_svg(_qr(doc))))


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return translations(context.get("language") or "en").gettext(message)


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return translations(context.get("language") or "en").ngettext(singular, plural, n)


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith(".txt.j2")  # HTML is escaped; the e-mails' plain text is not


def _error_line(e: BaseException, template: jinja2.Template) -> int | None:
    """The template line a render error happened on: Jinja2 rewrites the traceback so that the template's
    frames carry its file name and line numbers."""
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == template.filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def html_to_pdf(html: str, variant: str | None = None) -> bytes:
    """The PDF of an HTML document (WeasyPrint; imported late, it is heavy); `variant` e.g. "pdf/a-3b". The
    built-in template's PDF is Typst's (`Renderer.pdf`): this serves a company's own HTML templates."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=html, base_url=str(BUILTIN)).write_pdf(pdf_variant=variant)
    return pdf


@lru_cache(maxsize=8)
def _renderer_for(folder: str | None, payment_instructions: str) -> Renderer:
    return Renderer(folder, payment_instructions)


def default_renderer(settings: Settings | None = None) -> Renderer:
    """The renderer for `BILLABLE_TEMPLATES_DIR` and `BILLABLE_PAYMENT_INSTRUCTIONS` (made, and its templates
    checked, once per process and folder)."""
    s = settings or get_settings()
    return _renderer_for(s.templates_dir, s.payment_instructions)


def _sample(credit: bool, language: str = "en") -> DocumentView:
    """A small invoice with a line in every section, to render a template against when it is loaded."""
    now = datetime(2026, 1, 31, tzinfo=UTC)
    lines = [LineView(id=i, position=i, section=s, description=f"Sample {s}", quantity="1", unit="item",
                      unit_price="10.00", amount="-10.00" if s == "sla_credit" else "10.00", tax_rate="19",
                      tax="1.90", arrangement_id=None, source={}, manual=s == "manual")
             for i, s in enumerate(SECTION_TITLES, start=1)]
    inv = InvoiceView(id=1, kind="credit_note" if credit else "invoice", number="INV-2026-000001", status="issued",
                      client_id=1, client_name="Sample Ltd", currency="EUR", period_start=date(2026, 1, 1),
                      period_end=date(2026, 1, 31), issue_date=date(2026, 1, 31), due_date=date(2026, 3, 2),
                      subtotal="50.00", tax_total="9.50", total="59.50", paid="0.00", credited="0.00",
                      balance="59.50", overdue=False,
                      tax_by_rate=[{"rate": "19", "taxable": "50.00", "tax": "9.50"}],
                      tax_note=REVERSE_CHARGE_NOTE + CUSTOMER_VAT_ID + "GB294506104.", po_number="PO-1", checks=[],
                      reason="", corrects_invoice_id=1 if credit else None, lines=lines, created_at=now,
                      issued_at=now)
    client = ClientView(id=1, name="Sample Ltd", currency="EUR", billing_emails=["ap@sample.example"],
                        payment_terms_days=30, tax_profile={}, po_required=False, po_number="", locale=language,
                        account_manager_ids=[], created_at=now, language=DocumentLanguage(language))
    seller = Seller(legal_name="Seller GmbH", address=PostalAddress(street="Königstraße 1", postcode="70173",
                                                                    city="Stuttgart", country="DE"),
                    vat_id="DE147820932", tax_number="93815/08152", registration="HRB 1, Amtsgericht Stuttgart",
                    contact={"name": "Anna Beispiel", "email": "billing@seller.example", "phone": "+49 711 1"},
                    bank_account={"iban": "DE02600501017495530102", "bic": "SOLADEST600", "bank_name": "BW-Bank"})
    buyer = Buyer(legal_name="Sample Ltd", address=PostalAddress(street="1 Main Street", postcode="N1 7GR",
                                                                 city="London", country="GB"),
                  vat_id="GB294506104", buyer_reference="PO-1")
    return DocumentView(invoice=inv, client=client, seller="Seller", locale=language, seller_party=seller,
                        buyer_party=buyer,
                        corrects_number="INV-2026-000001" if credit else None, payment_terms_days=30)

"""Template loading, validation and rendering (see the package docstring)."""

from __future__ import annotations

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

from domain.services.documents import DocumentView
from domain.services.views import ClientView, InvoiceView, LineView
from domain.settings import Settings, get_settings

BUILTIN = Path(__file__).parent / "templates"
TEMPLATE_NAME = "invoice.html.j2"
PDF_CACHE = 64  # PDFs kept per renderer (20-100 KiB each)
DEFAULT_PAYMENT_INSTRUCTIONS = "Please pay by bank transfer, quoting the invoice number as the reference."

# Sections in the order they are printed, with their titles.
SECTION_TITLES: dict[str, str] = {
    "retainer": "Retainer",
    "time": "Time and materials",
    "milestone": "Milestones",
    "subscription": "Subscriptions",
    "pass_through": "Hardware and pass-through",
    "sla_credit": "SLA credits",
    "manual": "Other items",
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
    """The filters templates use, bound to one document's locale and currency."""

    def __init__(self, locale: str, currency: str) -> None:
        self.locale = _locale(locale)
        self.currency = currency

    def money(self, amount: str | Decimal) -> str:
        return str(format_currency(Decimal(amount), self.currency, locale=self.locale))

    def date(self, d: date | datetime | None, fmt: str = "long") -> str:
        return "" if d is None else str(format_date(d, format=fmt, locale=self.locale))

    def number(self, value: str | Decimal) -> str:
        return str(format_decimal(Decimal(value), locale=self.locale))

    def percent(self, rate: str | Decimal) -> str:
        return f"{format_decimal(Decimal(rate), locale=self.locale)} %"


def _sections(inv: InvoiceView) -> list[dict[str, Any]]:
    by: dict[str, list[LineView]] = {}
    for ln in inv.lines:
        by.setdefault(ln.section, []).append(ln)
    order = [s for s in SECTION_TITLES if s in by] + [s for s in by if s not in SECTION_TITLES]
    out = []
    for key in order:
        lines = by[key]
        subtotal = sum((Decimal(ln.amount) for ln in lines), Decimal(0))
        out.append({"key": key, "title": SECTION_TITLES.get(key, key.replace("_", " ").capitalize()),
                    "lines": lines, "subtotal": subtotal})
    return out


def _context(doc: DocumentView, links: dict[str, str] | None = None, payment_instructions: str = "") -> dict[str, Any]:
    inv = doc.invoice
    f = _Formats(doc.locale, inv.currency)
    credit = inv.kind == "credit_note"
    return {
        "doc": doc, "invoice": inv, "client": doc.client, "seller": doc.seller,
        "title": "Credit note" if credit else "Invoice", "is_credit_note": credit,
        "sections": _sections(inv), "links": links or {},
        "payment_instructions": payment_instructions or DEFAULT_PAYMENT_INSTRUCTIONS,
        "reverse_charge": "reverse charge" in inv.tax_note.lower(),
        "nonzero": lambda v: Decimal(v) != 0,
        "money": f.money, "fdate": f.date, "number": f.number, "percent": f.percent,
    }


class Renderer:
    """Loads and checks the templates once; renders documents to HTML and PDF. Thread-safe."""

    def __init__(self, folder: str | Path | None = None, payment_instructions: str = "") -> None:
        self.folder = Path(folder) if folder else None
        self.payment_instructions = payment_instructions
        if self.folder is not None and not self.folder.is_dir():
            raise TemplateRefused(str(self.folder), None, "the templates folder does not exist")
        loaders: list[jinja2.BaseLoader] = []
        if self.folder is not None:
            loaders.append(jinja2.FileSystemLoader(str(self.folder)))
        loaders.append(jinja2.FileSystemLoader(str(BUILTIN)))
        self.env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self._lock = threading.Lock()
        self._pdfs: OrderedDict[bytes, bytes] = OrderedDict()  # HTML digest -> PDF, least recently used first
        for name in self._names():
            self._check(name)

    def _names(self) -> list[str]:
        names = [TEMPLATE_NAME]
        if self.folder is not None:
            names += sorted(str(p.relative_to(self.folder)) for p in self.folder.rglob("*.j2"))
        return list(dict.fromkeys(names))

    def _check(self, name: str) -> None:
        """Compile, then render the sample invoice and credit note: errors name the file and the line."""
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateRefused(e.filename or name, e.lineno, e.message or str(e)) from e
        if not name.endswith(TEMPLATE_NAME):
            return  # a partial, compiled; checked through the templates that include it
        for sample in (_sample(False), _sample(True)):
            try:
                template.render(_context(sample, {"pdf": "#", "page": "#"}, self.payment_instructions))
            except jinja2.TemplateError as e:
                raise TemplateRefused(template.filename or name, _error_line(e, template), str(e)) from e
            except Exception as e:
                raise TemplateRefused(template.filename or name, _error_line(e, template),
                                      f"{type(e).__name__}: {e}") from e

    def template_for(self, client_id: int) -> jinja2.Template:
        with self._lock:
            return self.env.select_template([f"clients/{client_id}/{TEMPLATE_NAME}", TEMPLATE_NAME])

    def html(self, doc: DocumentView, links: dict[str, str] | None = None) -> str:
        return self.template_for(doc.client.id).render(_context(doc, links, self.payment_instructions))

    def pdf(self, doc: DocumentView, links: dict[str, str] | None = None) -> bytes:
        """The PDF, from the same HTML. A PDF is a pure function of its HTML, so the last few are kept by the
        HTML's digest: the same document asked for again (the hosted page's download, the API, an e-mail retry)
        costs one template render (~15 ms) instead of a WeasyPrint layout (~0.5 s); a changed invoice (a payment,
        a status) is new HTML, so never a stale PDF."""
        html = self.html(doc, links)
        key = hashlib.sha256(html.encode("utf-8")).digest()
        with self._lock:
            hit = self._pdfs.get(key)
            if hit is not None:
                self._pdfs.move_to_end(key)
                return hit
        pdf = html_to_pdf(html)
        with self._lock:
            self._pdfs[key] = pdf
            while len(self._pdfs) > PDF_CACHE:
                self._pdfs.popitem(last=False)
        return pdf


def _error_line(e: BaseException, template: jinja2.Template) -> int | None:
    """The template line a render error happened on: Jinja2 rewrites the traceback so that the template's
    frames carry its file name and line numbers."""
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == template.filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def html_to_pdf(html: str) -> bytes:
    """The PDF of an HTML document (WeasyPrint; imported late, it is heavy)."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=html, base_url=str(BUILTIN)).write_pdf()
    return pdf


@lru_cache(maxsize=8)
def _renderer_for(folder: str | None, payment_instructions: str) -> Renderer:
    return Renderer(folder, payment_instructions)


def default_renderer(settings: Settings | None = None) -> Renderer:
    """The renderer for `BILLABLE_TEMPLATES_DIR` and `BILLABLE_PAYMENT_INSTRUCTIONS` (made, and its templates
    checked, once per process and folder)."""
    s = settings or get_settings()
    return _renderer_for(s.templates_dir, s.payment_instructions)


def _sample(credit: bool) -> DocumentView:
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
                      tax_note="Reverse charge: the customer accounts for the VAT.", po_number="PO-1", checks=[],
                      reason="", corrects_invoice_id=1 if credit else None, lines=lines, created_at=now,
                      issued_at=now)
    client = ClientView(id=1, name="Sample Ltd", currency="EUR", billing_emails=["ap@sample.example"],
                        payment_terms_days=30, tax_profile={}, po_required=False, po_number="", locale="en_GB",
                        account_manager_ids=[], created_at=now)
    return DocumentView(invoice=inv, client=client, seller="Seller", locale="en_GB",
                        corrects_number="INV-2026-000001" if credit else None, payment_terms_days=30)

"""Jinja2 for the dashboard's pages: autoescaped templates from the package, money and date filters, the chart."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import format_currency, format_decimal
from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from domain.services.dashboard import MonthFigure

STATE_LABELS = {
    "draft": "Draft", "pending_approval": "Pending approval", "issued": "Issued", "sent": "Sent",
    "viewed": "Viewed", "partially_paid": "Partially paid", "paid": "Paid", "overdue": "Overdue",
    "delivery_failed": "Delivery failed", "void": "Void", "uncollectible": "Uncollectible",
}
BUCKET_LABELS = {"current": "Current (not yet due)", "1-30": "1–30 days", "31-60": "31–60 days",
                 "61-90": "61–90 days", "90+": "Over 90 days"}


def money(amount: str | Decimal | None, currency: str) -> str:
    """12,345.00 EUR as people read it (en_GB grouping), from a decimal string."""
    if amount is None or amount == "":
        return ""
    return str(format_currency(Decimal(str(amount)), currency, locale="en_GB"))


def when(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state.replace("_", " ").capitalize())


def chart(monthly: list[MonthFigure], currency: str) -> Markup:
    """Billed vs collected per month in one currency, as an inline SVG bar chart (no script, no CDN)."""
    rows = [m for m in monthly if m.currency == currency]
    if not rows:
        return Markup("")
    top = max([max(m.billed_minor, m.collected_minor) for m in rows] + [1])
    width, height, pad_left, pad_bottom, pad_top = 720, 240, 70, 34, 12
    plot_h = height - pad_bottom - pad_top
    slot = (width - pad_left) / len(rows)
    bar = max(4.0, slot / 2 - 6)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="chart-{currency}-title" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="chart-{currency}-title">Billed and collected per month, {escape(currency)}, last '
             f'{len(rows)} months</title>']
    for i in range(5):
        y = pad_top + plot_h * i / 4
        label = format_decimal(Decimal(top * (4 - i) / 4).scaleb(-2).quantize(Decimal(1)), locale="en_GB")
        parts.append(f'<line x1="{pad_left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{pad_left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{label}</text>')
    for i, m in enumerate(rows):
        x = pad_left + i * slot + 3
        for j, (kind, value, text) in enumerate((("billed", m.billed_minor, m.billed),
                                                 ("collected", m.collected_minor, m.collected))):
            h = plot_h * value / top
            parts.append(f'<rect class="{kind}" x="{x + j * (bar + 2):.1f}" y="{pad_top + plot_h - h:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}"><title>{m.month} {kind}: '
                         f'{escape(money(text, currency))}</title></rect>')
        parts.append(f'<text x="{x + bar:.1f}" y="{height - 14}" class="axis" text-anchor="middle">'
                     f'{m.month[2:]}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@lru_cache
def env() -> Environment:
    e = Environment(loader=PackageLoader("channels.web", "templates"), autoescape=select_autoescape(default=True),
                    undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    e.filters.update(money=money, when=when, state=state_label)
    e.globals.update(BUCKET_LABELS=BUCKET_LABELS, chart=chart)
    return e


def render(template: str, **context: Any) -> str:
    return env().get_template(template).render(**context)

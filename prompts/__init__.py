"""Prompts as files (CONVENTIONS 11): the system prompt, the billing policy and the offline interpreter's reply
templates, Jinja2 over Markdown. Code renders them by name; no prompt text lives in Python strings.

    render("system", person=..., role=..., today=...)      # prompts/system.md.j2
    render("replies/status", invoice=..., timeline=...)    # prompts/replies/status.md.j2
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

HERE = Path(__file__).resolve().parent


def money(amount: object, currency: str = "") -> str:
    """'2400.5', 'EUR' -> '2,400.50 EUR' (grouped, the amount's own places kept; never a float)."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return f"{amount} {currency}".strip()
    return f"{value:,} {currency}".strip()


def signed_money(amount: object, currency: str = "") -> str:
    """'+2000' -> '+2,000.00 GBP' style: the sign kept, for changes."""
    text = str(amount)
    sign = text[:1] if text[:1] in "+-" else ""
    return sign + money(text.lstrip("+-"), currency)


def when(value: object) -> str:
    """An ISO date-time -> '31 Mar 2026 09:02 UTC'; a date -> '31 Mar 2026'."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        return value.strftime("%d %b %Y %H:%M") + (" UTC" if value.utcoffset() is not None else "")
    if isinstance(value, date):
        return value.strftime("%d %b %Y")
    return str(value)


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE)), undefined=StrictUndefined, autoescape=False,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
    env.filters["money"] = money
    env.filters["when"] = when
    env.filters["signed_money"] = signed_money
    env.filters["sentence"] = lambda s: str(s)[:1].upper() + str(s)[1:]  # capitalize() would lower the rest
    return env


def render(template: str, /, **context: Any) -> str:
    """Render prompts/<template>.md.j2 with the given context; whitespace at the ends is trimmed."""
    return _env().get_template(f"{template}.md.j2").render(**context).strip()


__all__ = ["HERE", "money", "render", "signed_money", "when"]

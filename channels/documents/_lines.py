"""Generated invoice lines written in the document's language.

The domain stores every line's English `description` (what the API, the audit trail and the accounting push see)
and, for the lines it wrote itself, the wording as data in `source["text"]` (a key and machine values: ISO dates,
decimal strings, names). A document in another language writes those lines from the catalogue; a line without it
(typed by a person, or drafted before lines carried their wording) keeps its stored description. What people typed
(a product, a milestone's or an expense's name) stays as typed: only the words around it are translated.
"""

from __future__ import annotations

import gettext
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from channels.documents._i18n import N_, SOURCE_LANGUAGE, translations

RETAINER = N_("Retainer")
NAMED_PERIOD = N_("%(name)s — %(period)s")
IN_ARREARS = N_("(in arrears)")
PRORATED = N_("(prorated %(share)s)")
SEATS = N_("%(product)s — %(seats)s seats, %(period)s")
ONE_SEAT = N_("%(product)s — 1 seat, %(period)s")
INCLUDED = N_("Included hours used — %(hours)s h of %(offered)s h")
TIER = N_("Time and materials — tier %(tier)s, %(hours)s h")
PERSON = N_("%(person)s (%(role)s) — %(hours)s h")
PERSON_OVERAGE = N_("%(person)s (%(role)s) — overage %(hours)s h")
CAP = N_("Not-to-exceed cap of %(cap)s reached — adjustment")
MILESTONE = N_("Milestone: %(name)s (completed %(date)s)")
SLA_CREDIT = N_("SLA credit: %(description)s (%(date)s)")
SLA_EXHAUSTED = N_("SLA credit: %(description)s (%(date)s) — the period's credits already reach its retainer")
MARKUP = N_("%(description)s (cost %(cost)s + %(markup)s markup)")
PERIOD_RANGE = N_("%(start)s to %(end)s")


def _period(p: dict[str, Any], t: gettext.NullTranslations, loc: Locale) -> str:
    start, end = date.fromisoformat(str(p["start"])), date.fromisoformat(str(p["end"]))
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    if start.day == 1 and end == following - timedelta(days=1):  # a calendar month: "April 2026", "avril 2026"
        return str(format_date(start, "LLLL yyyy", locale=loc))
    return t.gettext(PERIOD_RANGE) % {"start": format_date(start, "medium", locale=loc),
                                      "end": format_date(end, "medium", locale=loc)}


def _hours(value: Any, loc: Locale) -> str:
    """Hours and amounts with two decimals, as the locale writes them (10,00)."""
    return str(format_decimal(Decimal(str(value)), format="#,##0.00", locale=loc))


def _percent(value: Any, loc: Locale) -> str:
    return str(format_percent(Decimal(str(value)).normalize() / 100, locale=loc, decimal_quantization=False))


def _wording(key: str, p: dict[str, Any], t: gettext.NullTranslations, loc: Locale) -> str:
    g = t.gettext
    if key in ("retainer", "subscription"):
        period = _period(p, t, loc)
        if key == "retainer":
            out = g(NAMED_PERIOD) % {"name": p.get("name") or g(RETAINER), "period": period}
            if p.get("arrears"):
                out += " " + g(IN_ARREARS)
        else:
            seats = int(p["seats"])
            out = g(ONE_SEAT if seats == 1 else SEATS) % {"product": p["product"], "seats": seats, "period": period}
        if p.get("share"):
            out += " " + g(PRORATED) % {"share": _percent(p["share"], loc)}
        return out
    if key == "included_hours":
        return g(INCLUDED) % {"hours": _hours(p["hours"], loc), "offered": _hours(p["offered"], loc)}
    if key == "tier":
        return g(TIER) % {"tier": p["tier"], "hours": _hours(p["hours"], loc)}
    if key == "person_hours":
        return g(PERSON_OVERAGE if p.get("overage") else PERSON) % {
            "person": p["person"], "role": p["role"], "hours": _hours(p["hours"], loc)}
    if key == "cap":
        return g(CAP) % {"cap": format_decimal(Decimal(str(p["cap"])), locale=loc)}
    if key == "milestone":
        return g(MILESTONE) % {"name": p["name"],
                               "date": format_date(date.fromisoformat(str(p["completed_on"])), "medium", locale=loc)}
    if key == "sla_credit":
        return g(SLA_EXHAUSTED if p.get("exhausted") else SLA_CREDIT) % {
            "description": p["description"],
            "date": format_date(date.fromisoformat(str(p["occurred_on"])), "medium", locale=loc)}
    if key == "pass_through":
        if not p.get("markup"):
            return str(p["description"])
        return g(MARKUP) % {"description": p["description"], "cost": _hours(p["cost"], loc),
                            "markup": _percent(p["markup"], loc)}
    raise KeyError(key)


def describe(description: str, source: dict[str, Any] | None, language: str, loc: Locale) -> str:
    """The line as the document writes it: its generated wording in `language` (dates and numbers as `loc` writes
    them), else, and always in English, its stored description."""
    text = (source or {}).get("text")
    if language == SOURCE_LANGUAGE or not isinstance(text, dict):
        return description
    try:
        return _wording(str(text.get("key")), dict(text.get("params") or {}), translations(language), loc)
    except (KeyError, ValueError, TypeError, InvalidOperation):  # wording from a later version, or damaged
        return description

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

# differences an amendment or an end leaves on periods (or time) already invoiced (domain.services.contracts)
ADJUSTMENT = N_("%(name)s — %(period)s: %(change)s (difference)")
ADJUSTMENT_CREDIT = N_("%(name)s — %(period)s: %(change)s (credit)")
TIME_ADJUSTMENT = N_("%(name)s — time of %(start)s to %(end)s on invoice %(invoice)s: %(change)s (difference)")
TIME_ADJUSTMENT_CREDIT = N_("%(name)s — time of %(start)s to %(end)s on invoice %(invoice)s: %(change)s (credit)")
TIME_AND_MATERIALS = N_("Time and materials")
AMENDED = N_("%(changes)s from %(date)s (version %(version)s)")
AMENDED_PROPOSED = N_("%(changes)s from %(date)s (version %(version)s, proposed)")
ENDED = N_("ended on %(date)s")
ENDED_BECAUSE = N_("ended on %(date)s (%(reason)s)")
FIELD_FROM_TO = N_("%(field)s %(before)s → %(after)s")
FIELD_CHANGED = N_("%(field)s changed")
NO_VALUE = N_("none")
YES, NO = N_("yes"), N_("no")
# the terms an amendment can change, by their field; a field not named here (a later version's) keeps the English
FIELDS = {"seats": N_("seats"), "unit_price": N_("unit price"), "product": N_("product"), "fee": N_("fee"),
          "cycle": N_("cycle"), "billing": N_("billing"), "included_hours": N_("included hours"),
          "prorate": N_("proration"), "default_rate": N_("default rate"), "role_rates": N_("role rates"),
          "person_rates": N_("person rates"), "tiers": N_("tiers"), "cap": N_("cap"),
          "threshold_hours": N_("threshold hours"), "threshold_amount": N_("threshold amount")}
CHOICES = {"monthly": N_("monthly"), "quarterly": N_("quarterly"), "yearly": N_("yearly"),
           "advance": N_("in advance"), "arrears": N_("in arrears")}
AS_TYPED = ("product",)  # a name a person typed: written as typed
CREDIT = N_("Credit for %(invoice)s (%(rate)s rate)")  # a credit note's line, one per tax rate credited


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


def _number(value: Any, loc: Locale) -> str:
    """A count or a decimal string as the locale writes it, with the places it was stored with (7.50 -> 7,50)."""
    d = Decimal(str(value))
    places = max(0, -int(d.as_tuple().exponent))
    return str(format_decimal(d, format="#,##0" + ("." + "0" * places if places else ""), locale=loc))


def _value(field: str, value: Any, t: gettext.NullTranslations, loc: Locale) -> str:
    if value is None:
        return t.gettext(NO_VALUE)
    if isinstance(value, bool):
        return t.gettext(YES if value else NO)
    if field in ("cycle", "billing"):
        return t.gettext(CHOICES[str(value)])
    if field in AS_TYPED:
        return str(value)
    return _number(value, loc)


def _change(c: dict[str, Any], t: gettext.NullTranslations, loc: Locale) -> str:
    """What an amendment (its fields before and after, from a date) or an end changed."""
    g = t.gettext
    if "ended" in c:
        day = format_date(date.fromisoformat(str(c["ended"])), "medium", locale=loc)
        return g(ENDED_BECAUSE) % {"date": day, "reason": c["reason"]} if c.get("reason") \
            else g(ENDED) % {"date": day}
    parts = []
    for f in c["changes"]:
        name = g(FIELDS[str(f["field"])])
        parts.append(g(FIELD_CHANGED) % {"field": name} if f.get("changed") else g(FIELD_FROM_TO) % {
            "field": name, "before": _value(f["field"], f["before"], t, loc),
            "after": _value(f["field"], f["after"], t, loc)})
    if not parts:
        raise ValueError("an amendment that changed nothing")
    return g(AMENDED_PROPOSED if c.get("proposed") else AMENDED) % {
        "changes": ", ".join(parts), "version": c["version"],
        "date": format_date(date.fromisoformat(str(c["from"])), "medium", locale=loc)}


def _adjustment(key: str, p: dict[str, Any], t: gettext.NullTranslations, loc: Locale) -> str:
    g = t.gettext
    change = _change(dict(p["change"]), t, loc)
    if key == "adjustment":
        return g(ADJUSTMENT_CREDIT if p.get("credit") else ADJUSTMENT) % {
            "name": p["name"], "period": _period(p, t, loc), "change": change}
    return g(TIME_ADJUSTMENT_CREDIT if p.get("credit") else TIME_ADJUSTMENT) % {
        "name": p.get("name") or g(TIME_AND_MATERIALS), "invoice": p["invoice"], "change": change,
        "start": format_date(date.fromisoformat(str(p["start"])), "medium", locale=loc),
        "end": format_date(date.fromisoformat(str(p["end"])), "medium", locale=loc)}


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
    if key == "credit":
        return g(CREDIT) % {"invoice": p["invoice"], "rate": _percent(p["rate"], loc)}
    if key in ("adjustment", "time_adjustment"):
        return _adjustment(key, p, t, loc)
    raise KeyError(key)


def describe(description: str, source: dict[str, Any] | None, language: str, loc: Locale) -> str:
    """The line as the document writes it: its generated wording in `language` (dates and numbers as `loc` writes
    them), else, and always in English, its stored description."""
    text = (source or {}).get("text")
    if language == SOURCE_LANGUAGE or not isinstance(text, dict):
        return description
    try:
        return _wording(str(text.get("key")), dict(text.get("params") or {}), translations(language), loc)
    # wording from a later version, or damaged
    except (KeyError, ValueError, TypeError, AttributeError, InvalidOperation):
        return description


def describe_reason(reason: str, sources: list[dict[str, Any]], language: str, loc: Locale) -> str:
    """A credit note's reason as the document writes it: in `language` when billable wrote it (a credit note an
    adjustment proposed keeps the adjustment's wording as `reason_text` in its lines' source), else as stored."""
    text = next((s["reason_text"] for s in sources if isinstance(s.get("reason_text"), dict)), None)
    return describe(reason, {"text": text} if text else None, language, loc)

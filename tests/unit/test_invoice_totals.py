"""Properties of an invoice's arithmetic, through the very functions the services use to build one.

The rows here are plain in-memory objects: nothing touches a database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model.lines import DraftLine
from domain.model.money import minor_exponent, round_money
from domain.model.tax import TaxProfile, TaxRounding
from domain.services import invoicing
from domain.store.tables import InvoiceRow, WorkspaceRow

SECTIONS = ["retainer", "time", "milestone", "subscription", "pass_through", "sla_credit"]


def new_invoice(currency: str) -> InvoiceRow:
    return InvoiceRow(client_id=1, kind="invoice", status="draft", currency=currency, number="INV-X",
                      paid_minor=0, credited_minor=0, created_at=datetime(2026, 4, 1, tzinfo=UTC))


amount_st = st.decimals(min_value=-2000, max_value=100000, places=3, allow_nan=False, allow_infinity=False)
rate_st = st.sampled_from(["0", "5.5", "7", "19", "20", "21", "25.5"])
line_st = st.tuples(st.sampled_from(SECTIONS), amount_st)
profile_st = st.fixed_dictionaries({"rate": rate_st, "section_rates": st.dictionaries(
    st.sampled_from(SECTIONS), rate_st, max_size=3)})


def build(currency: str, lines: list[tuple[str, Decimal]], profile: dict[str, object],
          rounding: TaxRounding) -> InvoiceRow:
    inv = new_invoice(currency)
    drafts = [DraftLine(section, "x", Decimal(1), "item", round_money(a, currency), round_money(a, currency))
              for section, a in lines]
    invoicing._add_lines(inv, drafts, TaxProfile.model_validate(profile))
    invoicing._recompute(inv, WorkspaceRow(tax_rounding=rounding.value))
    return inv


@settings(max_examples=150)
@given(st.sampled_from(["EUR", "JPY", "KWD"]), st.lists(line_st, min_size=1, max_size=20), profile_st,
       st.sampled_from(list(TaxRounding)))
def test_lines_add_up_to_subtotal_and_subtotal_plus_tax_to_total(
        currency: str, lines: list[tuple[str, Decimal]], profile: dict[str, object], rounding: TaxRounding) -> None:
    inv = build(currency, lines, profile, rounding)
    exp = minor_exponent(currency)
    assert sum(ln.amount_minor for ln in inv.lines) == inv.subtotal_minor
    assert inv.subtotal_minor + inv.tax_minor == inv.total_minor
    by_rate = inv.tax_breakdown
    assert sum(int(Decimal(g["tax"]).scaleb(exp)) for g in by_rate) == inv.tax_minor
    assert sum(int(Decimal(g["taxable"]).scaleb(exp)) for g in by_rate) == inv.subtotal_minor
    assert len({g["rate"] for g in by_rate}) == len(by_rate)
    for ln in inv.lines:
        amount = Decimal(ln.amount_minor).scaleb(-exp)
        assert ln.tax_minor == int(round_money(amount * Decimal(ln.tax_rate) / 100, currency).scaleb(exp))
    if rounding == TaxRounding.PER_LINE:
        assert sum(ln.tax_minor for ln in inv.lines) == inv.tax_minor


@settings(max_examples=200)
@given(st.lists(line_st, min_size=1, max_size=8), profile_st, st.sampled_from(list(TaxRounding)),
       st.integers(min_value=0, max_value=10_000), st.data())
def test_a_credit_note_credits_exactly_what_it_says_and_never_more_than_the_balance(
        lines: list[tuple[str, Decimal]], profile: dict[str, object], rounding: TaxRounding, paid_permille: int,
        data: st.DataObject) -> None:
    inv = build("EUR", lines, profile, rounding)
    if inv.total_minor <= 0:
        return
    inv.paid_minor = inv.total_minor * paid_permille // 10_000
    balance = inv.total_minor - inv.paid_minor
    if balance <= 0:
        return
    gross = data.draw(st.integers(min_value=1, max_value=balance))
    note = new_invoice("EUR")
    invoicing._credit_lines(note, inv, gross)
    invoicing._recompute(note, WorkspaceRow(tax_rounding=rounding.value), credit_note=True)
    assert note.total_minor == gross
    assert note.subtotal_minor + note.tax_minor == note.total_minor
    assert sum(ln.amount_minor for ln in note.lines) == note.subtotal_minor
    for ln in note.lines:  # each credited rate is one the invoice has
        assert ln.tax_rate in {g["rate"] for g in inv.tax_breakdown}


def test_a_full_credit_mirrors_the_invoice_rate_by_rate() -> None:
    inv = build("EUR", [("retainer", Decimal("5000")), ("time", Decimal("2250")), ("pass_through", Decimal("99.99"))],
                {"rate": "19", "section_rates": {"pass_through": "7"}}, TaxRounding.PER_LINE)
    note = new_invoice("EUR")
    invoicing._credit_lines(note, inv, inv.total_minor)
    invoicing._recompute(note, WorkspaceRow(tax_rounding="per_line"), credit_note=True)
    assert note.total_minor == inv.total_minor
    assert note.subtotal_minor == inv.subtotal_minor and note.tax_minor == inv.tax_minor
    assert note.tax_breakdown == inv.tax_breakdown

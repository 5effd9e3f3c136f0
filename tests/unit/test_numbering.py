"""Invoice numbers: formats, one series (counter) per year, bad formats refused."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.model.numbering import check_format, render, series_key

D26, D27 = date(2026, 4, 1), date(2027, 1, 2)


@pytest.mark.parametrize(("fmt", "on", "seq", "number"), [
    ("INV-{yyyy}-{seq:06}", D26, 42, "INV-2026-000042"),
    ("INV-{yyyy}-{seq:06}", D26, 1, "INV-2026-000001"),
    ("INV-{yyyy}-{seq:06}", D26, 1234567, "INV-2026-1234567"),   # outgrows the width, never truncated
    ("CN-{yyyy}-{seq:06}", D27, 1, "CN-2027-000001"),
    ("{yy}{mm}/{seq:4}", D26, 7, "2604/0007"),
    ("A#{seq}", D26, 7, "A#7"),
    ("{seq:03}", D26, 5, "005"),
    ("INV.{yyyy}.{mm}.{seq:05}", D27, 3, "INV.2027.01.00003"),
])
def test_render(fmt: str, on: date, seq: int, number: str) -> None:
    assert check_format(fmt) == fmt
    assert render(fmt, on, seq) == number


def test_series_key_per_year_and_independent_of_width() -> None:
    assert series_key("INV-{yyyy}-{seq:06}", D26) == "INV-2026-{seq}"
    assert series_key("INV-{yyyy}-{seq:06}", D27) == "INV-2027-{seq}"    # each year restarts
    assert series_key("INV-{yyyy}-{seq:04}", D26) == series_key("INV-{yyyy}-{seq:06}", D26)
    assert series_key("INV-{seq:06}", D26) == series_key("INV-{seq:06}", D27)  # no year: one series forever
    assert series_key("{yyyy}{mm}-{seq}", D26) != series_key("{yyyy}{mm}-{seq}", date(2026, 5, 1))
    assert series_key("CN-{yyyy}-{seq:06}", D26) != series_key("INV-{yyyy}-{seq:06}", D26)


@pytest.mark.parametrize("fmt", [
    "", "INV-{yyyy}", "INV-{seq}-{seq}", "INV-{yyyy}-{foo}-{seq}", "INV {seq}", "INV-{seq:}", "{seq:abc}",
    "INV-{yyyy-{seq}", "INV-{{seq}}", "INV-{seq}\n", "INV-%d-{seq}", "ÄB-{seq}",
])
def test_bad_formats_are_refused(fmt: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        check_format(fmt, "invoice_number_format")
    assert e.value.code == "numbering.bad_format"
    assert e.value.field == "invoice_number_format"


@given(st.integers(min_value=1, max_value=999_999), st.integers(min_value=1, max_value=999_999),
       st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_distinct_sequence_numbers_render_distinct_numbers(a: int, b: int, on: date) -> None:
    fmt = "INV-{yyyy}-{seq:06}"
    assert (render(fmt, on, a) == render(fmt, on, b)) == (a == b)
    assert render(fmt, on, a).startswith(f"INV-{on.year}-")
    assert int(render(fmt, on, a).rsplit("-", 1)[1]) == a


@pytest.mark.parametrize("fmt", ["INV-{seq:0100000}", "INV-{seq:013}", "{seq:99999999999999999999999}",
                                 "INV-" + "X" * 60 + "-{seq:06}"])
def test_a_format_is_bounded_in_width_and_length(fmt: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        check_format(fmt, "invoice_number_format")
    assert e.value.field == "invoice_number_format" and e.value.code == "numbering.bad_format"


def test_the_widest_allowed_format_renders_a_number_that_fits() -> None:
    fmt = check_format("I" * 30 + "-{yyyy}-{mm}-{seq:012}")
    assert len(render(fmt, date(2026, 3, 1), 10**12 - 1)) <= 60   # the number column holds 60

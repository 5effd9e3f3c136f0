"""What every number and date from outside must fit, checked at the edge (the HTTP models, path and query
parameters, the services' input models), so nothing out of range reaches arithmetic or the database: ids and
counts fit their columns (ids 32 bits, as PostgreSQL's INTEGER; offsets 64 bits), dates fall in 1900-2999, and a
draft covers at most a year. Out of range is the caller's mistake: 422 naming the field."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from annotated_types import Interval
from pydantic import AfterValidator

from domain.errors import ValidationFailed

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # ids are INTEGER columns (32 bits on PostgreSQL)
FIRST_YEAR, LAST_YEAR = 1900, 2999
MAX_WINDOW_DAYS = 366  # one year (a leap year's worth) per draft

Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
# An id: what the id columns hold (INTEGER: 32 bits on PostgreSQL). Zero and negatives are ids nothing has.
Id = Annotated[int, Interval(ge=INT32_MIN, le=INT32_MAX)]


def day_in_range(d: date) -> date:
    if not FIRST_YEAR <= d.year <= LAST_YEAR:
        raise ValueError(f"must be a date in the years {FIRST_YEAR} to {LAST_YEAR}")
    return d


Day = Annotated[date, AfterValidator(day_in_range)]


def check_day(d: date, field: str) -> date:
    """The date if it is in 1900-2999, else a refusal naming the field."""
    try:
        return day_in_range(d)
    except ValueError as e:
        raise ValidationFailed(str(e), code="validation.date_out_of_range", field=field) from None

"""Invoice numbers: a format with `{yyyy}`, `{yy}`, `{mm}` and `{seq:0N}`; the counter key is the prefix."""

from __future__ import annotations

import re
from datetime import date

from domain.errors import ValidationFailed

_SEQ = re.compile(r"\{seq(?::0?(\d+))?\}")
_ALLOWED = re.compile(r"^[A-Za-z0-9_\-/.#]*(\{(yyyy|yy|mm|seq(:0?\d+)?)\}[A-Za-z0-9_\-/.#]*)*$")


MAX_SEQ_WIDTH = 12     # a trillion invoices per series
MAX_NUMBER_LENGTH = 60  # the invoices.number column


def check_format(fmt: str, field: str = "invoice_number_format") -> str:
    if len(fmt) > 100 or len(_SEQ.findall(fmt)) != 1 or not _ALLOWED.fullmatch(fmt):  # fullmatch: not "\n"
        raise ValidationFailed("a number format needs exactly one {seq} or {seq:06} and may use {yyyy}, "
                               "{yy}, {mm}, letters, digits and - _ / . #", code="numbering.bad_format",
                               field=field)
    width = _SEQ.search(fmt)
    if (width is not None and width.group(1) is not None and not 1 <= len(width.group(1)) <= 2) \
            or (width is not None and int(width.group(1) or 1) > MAX_SEQ_WIDTH):
        raise ValidationFailed(f"the sequence is at most {MAX_SEQ_WIDTH} digits wide ({{seq:06}} pads to six)",
                               code="numbering.bad_format", field=field)
    if len(render(fmt, date(2999, 12, 1), 10**MAX_SEQ_WIDTH - 1)) > MAX_NUMBER_LENGTH:
        raise ValidationFailed(f"a number made with this format would be longer than {MAX_NUMBER_LENGTH} "
                               "characters: shorten it", code="numbering.bad_format", field=field)
    return fmt


def _dates(fmt: str, on: date) -> str:
    return fmt.replace("{yyyy}", f"{on.year:04d}").replace("{yy}", f"{on.year % 100:02d}") \
        .replace("{mm}", f"{on.month:02d}")


def series_key(fmt: str, on: date) -> str:
    """The counter a number comes from: the format with its dates filled in (so each year restarts)."""
    return _SEQ.sub("{seq}", _dates(fmt, on))


def render(fmt: str, on: date, seq: int) -> str:
    def repl(m: re.Match[str]) -> str:
        width = int(m.group(1) or 1)
        return f"{seq:0{width}d}"
    return _SEQ.sub(repl, _dates(fmt, on))

"""Input models at the service boundary: a door may pass the model or plain data; either way a refusal is a
ValidationFailed naming the field, never a raw pydantic error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def refusal(e: ValidationError, skip: tuple[object, ...] = ()) -> ValidationFailed:
    """The first of pydantic's errors as ours: the field as a dotted path, pydantic's message made plain."""
    errors = e.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"] if p not in skip)
    message = str(first["msg"]).removeprefix("Value error, ")
    return ValidationFailed(message, field=loc or None,
                            details={"errors": [{"field": ".".join(str(p) for p in err["loc"] if p not in skip),
                                                 "message": str(err["msg"]).removeprefix("Value error, ")}
                                                for err in errors]})


def parse_input(model: type[M], data: M | Mapping[str, Any]) -> M:
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise refusal(e) from None


def no_float(value: object) -> object:
    """For money and quantities given as strings: a JSON number such as 12.1 has already lost its cents."""
    if isinstance(value, float | bool):
        raise ValueError("must be a decimal string such as \"12.50\", not a JSON number")
    return value

"""Errors as RFC 9457 problem details (`application/problem+json`), mapped once for the whole API.

Every body has: type, title, status, code (stable, for programs), field (what to fix, or null), detail (the
message for a person), and optionally details (structured extras) and errors (every invalid field).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from domain.errors import BillingError

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:billable:problem:"
_SOURCES = ("body", "query", "path", "header", "cookie")


def problem_body(status: int, code: str, detail: str, field: str | None = None,
                 details: dict[str, Any] | None = None, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:  # pragma: no cover - a status Python does not know
        title = "Error"
    body: dict[str, Any] = {"type": TYPE_PREFIX + code, "title": title, "status": status, "code": code,
                            "field": field, "detail": detail}
    if details:
        body["details"] = details
    if errors is not None:
        body["errors"] = errors
    return body


def problem(status: int, code: str, detail: str, field: str | None = None, details: dict[str, Any] | None = None,
            errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(problem_body(status, code, detail, field, details, errors), default=str,
                         ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def billing_problem(exc: BillingError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem(exc.status, exc.code, exc.message, exc.field, exc.details or None, headers=headers)


INTERNAL = problem_body(500, "internal.error", "something went wrong on our side; it has been logged. "
                        "If you retry, send the same Idempotency-Key so nothing happens twice.")


def internal_error() -> Response:
    """The one body every unhandled exception gets: nothing of the internals leaks. The server drops the
    connection after an unhandled error, so say so: clients then open a new one for their next request."""
    return problem(500, "internal.error", INTERNAL["detail"], headers={"Connection": "close"})


def _field_of(err: dict[str, Any], body: Any) -> str | None:
    loc = [str(p) for p in err.get("loc", ())]
    if loc and loc[0] in _SOURCES:
        source = loc.pop(0)
        if source == "body" and err.get("type") == "json_invalid":
            return "body"
        # A discriminated union (arrangement terms) puts the tag in the location: drop it.
        if source == "body" and loc and isinstance(body, dict) and loc[0] == body.get("kind"):
            loc.pop(0)
    if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        loc.append(str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'"))
    return ".".join(loc) or None


def _message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    if err.get("type") == "json_invalid":
        return f"the body is not valid JSON ({(err.get('ctx') or {}).get('error', 'decode error')})"
    if err.get("type") == "missing":
        return "is required"
    return msg


def validation_problem(exc: RequestValidationError | ValidationError) -> Response:
    body = exc.body if isinstance(exc, RequestValidationError) else None
    errors = [{"field": _field_of(dict(e), body), "message": _message(dict(e)), "type": e.get("type")}
              for e in exc.errors()]
    first = errors[0] if errors else {"field": None, "message": "the request is invalid"}
    detail = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}, see errors)"
    return problem(422, "validation.invalid", detail, first["field"], errors=errors)


_HTTP_CODES = {404: "http.not_found", 405: "http.method_not_allowed", 413: "http.too_large"}


def http_problem(exc: StarletteHTTPException) -> Response:
    code = getattr(exc, "code", None) or _HTTP_CODES.get(exc.status_code, f"http.{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such endpoint: see /docs for the API"
    return problem(exc.status_code, code, detail, getattr(exc, "field", None), headers=dict(exc.headers or {}) or None)


def install(app: FastAPI) -> None:
    """Register the handlers: domain refusals, request validation, HTTP errors, and the last resort."""

    async def on_billing_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BillingError)
        return billing_problem(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_problem(exc)

    async def on_model_error(_request: Request, exc: Exception) -> Response:
        # A service validated a model of its own and let pydantic's error escape: still the caller's input.
        assert isinstance(exc, ValidationError)
        return validation_problem(exc)

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return http_problem(exc)

    async def on_unhandled(_request: Request, _exc: Exception) -> Response:
        # The server logs the exception with its traceback (the error propagates to it after this response).
        return internal_error()

    app.add_exception_handler(BillingError, on_billing_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(ValidationError, on_model_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unhandled)

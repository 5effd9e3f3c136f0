"""One error hierarchy for the whole domain; every channel maps it once."""

from __future__ import annotations

from typing import Any


class BillingError(Exception):
    """A refusal the user can act on: a stable code, the field at fault, a human message."""

    code: str = "billing.error"
    status: int = 400  # the HTTP status a channel should use; the domain never speaks HTTP itself

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            data["field"] = self.field
        if self.details:
            data["details"] = self.details
        return data


class ValidationFailed(BillingError):
    code = "validation.invalid"
    status = 422


class NotFound(BillingError):
    code = "not_found"
    status = 404


class Forbidden(BillingError):
    code = "auth.forbidden"
    status = 403


class Unauthenticated(BillingError):
    code = "auth.unauthenticated"
    status = 401


class Conflict(BillingError):
    code = "conflict"
    status = 409


class BadTransition(BillingError):
    code = "invoice.bad_transition"
    status = 409


class CheckBlocked(BillingError):
    code = "check.blocked"
    status = 422


class IdempotencyMismatch(BillingError):
    code = "idempotency.mismatch"
    status = 422


class IdempotencyInFlight(BillingError):
    code = "idempotency.in_flight"
    status = 409

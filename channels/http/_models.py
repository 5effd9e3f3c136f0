"""Request and response models of the HTTP door that the services do not already define.

Money travels as decimal strings ("1234.50"): a JSON number where money is expected is refused here, at the
edge, with a 422 naming the field; the domain then parses the string against the currency's minor unit.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from domain.model.bounds import Day, Id
from domain.model.tax import TaxRounding
from domain.services.work import ExpenseIn, TimeEntryIn

_NOT_A_NUMBER = 'must be a decimal string such as "12.50", not a JSON number'


def _money_string(v: object) -> object:
    if isinstance(v, bool | int | float):
        raise ValueError(_NOT_A_NUMBER)
    return v


def _no_float(v: object) -> object:
    if isinstance(v, bool | float):
        raise ValueError(_NOT_A_NUMBER.replace("12.50", "7.5"))
    return v


Money = Annotated[str, BeforeValidator(_money_string),
                  Field(max_length=40, description="A decimal string, at most the currency's minor unit",
                        examples=["1234.50"])]
Quantity = Annotated[str | int, BeforeValidator(_no_float),
                     Field(description="A decimal string (or a whole number)", examples=["7.5"])]


Offset = Annotated[int, Field(ge=-365, le=365)]  # days from the due date


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeEntryRequest(TimeEntryIn):
    hours: Quantity  # type: ignore[assignment]


class ExpenseRequest(ExpenseIn):
    cost: Money  # type: ignore[assignment]


class DraftRequest(_In):
    client_id: Id
    period_start: Day
    period_end: Day


class CompleteMilestoneRequest(_In):
    completed_on: Day | None = None


class NoteRequest(_In):
    note: str = Field(default="", max_length=2000)


class ReasonRequest(_In):
    reason: str = Field(min_length=1, max_length=2000)


class ManualLineRequest(_In):
    description: str = Field(min_length=1, max_length=2000)
    quantity: Quantity
    unit_price: Money


class PaymentRequest(_In):
    amount: Money
    received_on: Day
    reference: str = Field(default="", max_length=200)


class CreditNoteRequest(_In):
    reason: str = Field(min_length=1, max_length=2000)
    amount: Money | None = Field(default=None, description="Gross amount to credit; the whole balance if omitted")


class SettingsPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    invoice_number_format: str | None = Field(default=None, examples=["INV-{yyyy}-{seq:06}"])
    credit_note_number_format: str | None = None
    tax_rounding: TaxRounding | None = None
    approval_thresholds: dict[str, Money] | None = Field(default=None, examples=[{"EUR": "20000.00"}])
    deviation_pct: Annotated[str, BeforeValidator(_money_string)] | None = None
    duplicate_days: int | None = Field(default=None, ge=0, le=365)
    pilot_mode: bool | None = None
    locale: str | None = Field(default=None, max_length=20)
    reminder_offsets: list[Offset] | None = Field(default=None, max_length=10, examples=[[-3, 1, 7, 14]],
                                               description="Dunning: days from the due date (negative: before); "
                                                           "[] sends no reminders")
    send_on_issue: bool | None = Field(default=None, description="E-mail each invoice the moment it is issued")

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, v: object) -> object:
        if v is None:
            raise ValueError("must not be null: leave the field out to keep its value")
        return v


class MeView(BaseModel):
    user_id: int | None
    email: str | None
    role: str
    kind: str
    client_ids: list[int] | None = Field(description="Account managers: the clients they may see")


class Health(BaseModel):
    status: str


class FieldProblem(BaseModel):
    field: str | None = Field(description="Dotted path of the field, e.g. tax_profile.rate")
    message: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is returned (`application/problem+json`)."""

    type: str = Field(examples=["urn:billable:problem:invoice.bad_transition"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    code: str = Field(description="Stable, for programs", examples=["invoice.bad_transition"])
    field: str | None = Field(description="The field at fault, if one is", examples=["status"])
    detail: str = Field(description="What went wrong and what to do, for a person")
    details: dict[str, Any] | None = Field(default=None, description="Structured extras (e.g. the failed checks)")
    errors: list[FieldProblem] | None = Field(default=None, description="Invalid input: every field at fault")

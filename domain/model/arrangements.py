"""Arrangements (contract terms) as validated data, one model per kind, mixed freely on a client."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from domain.model.bounds import Day, Id
from domain.model.money import MAX_AMOUNT
from domain.model.periods import Cycle


def _decimal_string(v: object) -> Decimal:
    # JSON numbers are refused for money and quantities: 0.1 + 0.2 must never reach an invoice.
    if isinstance(v, float | bool):
        raise ValueError("must be a decimal string such as \"150.00\", not a JSON number")
    if isinstance(v, Decimal):
        d = v
    elif isinstance(v, int | str):
        try:
            d = Decimal(str(v).strip())
        except Exception:
            raise ValueError(f"{v!r} is not a decimal number") from None
    else:
        raise ValueError("must be a decimal string")
    if not d.is_finite():
        raise ValueError("must be a finite number")
    if d < 0:
        raise ValueError("must not be negative")
    if d >= MAX_AMOUNT:
        raise ValueError(f"must be less than {MAX_AMOUNT:,}")
    return d


Dec = Annotated[Decimal, BeforeValidator(_decimal_string)]


class Kind(StrEnum):
    RETAINER = "retainer"
    TIME_AND_MATERIALS = "time_and_materials"
    MILESTONE = "milestone"
    SUBSCRIPTION = "subscription"
    PASS_THROUGH = "pass_through"
    SLA_CREDIT = "sla_credit"


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    starts_on: Day | None = None
    ends_on: Day | None = None

    @model_validator(mode="after")
    def _dates(self) -> _Base:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class RetainerTerms(_Base):
    """A fixed fee per period, billed in advance or in arrears, partial first/last periods prorated."""

    kind: Literal["retainer"] = "retainer"
    fee: Dec
    cycle: Cycle = Cycle.MONTHLY
    billing: Literal["advance", "arrears"] = "advance"
    included_hours: Dec = Decimal(0)
    prorate: bool = True


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    up_to_hours: Dec | None = None  # None: every hour beyond the previous tier
    rate: Dec


class TimeAndMaterialsTerms(_Base):
    """Hours at a rate per person, per role, or a default; optional graduated tiers and a not-to-exceed cap."""

    kind: Literal["time_and_materials"] = "time_and_materials"
    default_rate: Dec | None = None
    role_rates: dict[str, Dec] = Field(default_factory=dict)
    person_rates: dict[str, Dec] = Field(default_factory=dict)
    tiers: list[Tier] = Field(default_factory=list)
    cap: Dec | None = None  # not-to-exceed over the life of the arrangement
    threshold_hours: Dec | None = None   # used by rules: draft when unbilled hours reach this
    threshold_amount: Dec | None = None  # ... or when the unbilled amount reaches this

    @model_validator(mode="after")
    def _rates(self) -> TimeAndMaterialsTerms:
        if self.default_rate is None and not self.role_rates and not self.person_rates and not self.tiers:
            raise ValueError("give default_rate, role_rates, person_rates or tiers")
        bounds = [t.up_to_hours for t in self.tiers]
        if bounds and any(b is None for b in bounds[:-1]):
            raise ValueError("only the last tier may omit up_to_hours")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(finite) or len(set(finite)) != len(finite):
            raise ValueError("tiers' up_to_hours must increase")
        return self


class MilestoneSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    amount: Dec


class MilestoneTerms(_Base):
    """Fixed fees, each billable once its milestone is completed."""

    kind: Literal["milestone"] = "milestone"
    milestones: list[MilestoneSpec] = Field(min_length=1)


class SubscriptionTerms(_Base):
    """Seats or licences times a unit price per period, billed in advance."""

    kind: Literal["subscription"] = "subscription"
    product: str = Field(min_length=1, max_length=200)
    seats: int = Field(ge=1, le=10_000_000)
    unit_price: Dec
    cycle: Cycle = Cycle.MONTHLY


class PassThroughTerms(_Base):
    """Hardware and expenses re-billed at cost plus a markup percentage."""

    kind: Literal["pass_through"] = "pass_through"
    markup_pct: Dec = Decimal(0)

    @model_validator(mode="after")
    def _markup(self) -> PassThroughTerms:
        if self.markup_pct > 1000:
            raise ValueError("markup_pct over 1000% is surely a typo")
        return self


class SlaCreditTerms(_Base):
    """Credits for breaches: a percent of the period's retainer or a fixed amount, capped at the retainer."""

    kind: Literal["sla_credit"] = "sla_credit"
    retainer_arrangement_id: Id | None = None
    credit_pct: Dec | None = None
    fixed_amount: Dec | None = None

    @model_validator(mode="after")
    def _one(self) -> SlaCreditTerms:
        if (self.credit_pct is None) == (self.fixed_amount is None):
            raise ValueError("give exactly one of credit_pct or fixed_amount")
        if self.credit_pct is not None and self.credit_pct > 100:
            raise ValueError("credit_pct must be at most 100")
        return self


Terms = Annotated[
    RetainerTerms | TimeAndMaterialsTerms | MilestoneTerms | SubscriptionTerms | PassThroughTerms
    | SlaCreditTerms,
    Field(discriminator="kind"),
]

TERMS_BY_KIND: dict[str, type[_Base]] = {
    "retainer": RetainerTerms, "time_and_materials": TimeAndMaterialsTerms, "milestone": MilestoneTerms,
    "subscription": SubscriptionTerms, "pass_through": PassThroughTerms, "sla_credit": SlaCreditTerms,
}


def money_fields(terms: _Base) -> dict[str, Decimal]:
    """Every money amount in the terms, by field path, so the service can check the currency's places."""
    out: dict[str, Decimal] = {}
    for name in ("fee", "default_rate", "cap", "threshold_amount", "unit_price", "fixed_amount"):
        v = getattr(terms, name, None)
        if isinstance(v, Decimal):
            out[name] = v
    for group in ("role_rates", "person_rates"):
        for k, v in (getattr(terms, group, None) or {}).items():
            out[f"{group}.{k}"] = v
    for i, t in enumerate(getattr(terms, "tiers", None) or []):
        out[f"tiers.{i}.rate"] = t.rate
    for i, m in enumerate(getattr(terms, "milestones", None) or []):
        out[f"milestones.{i}.amount"] = m.amount
    return out

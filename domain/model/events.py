"""Canonical events: what happened in the tools a company already uses, in one vocabulary.

Every inbound source (our own Standard Webhooks endpoint, HubSpot, Jira, Toggl, Harvest) is translated into one of
these types by its adapter; rules match on them. Each type has a data model, so a payload that lacks a field is
refused naming it, and a `subject` (what the event is about), so events about the same thing that arrive out of
order can be put back in order by their `occurred_at`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class EventType(StrEnum):
    DEAL_WON = "deal.won"
    MILESTONE_COMPLETED = "milestone.completed"
    TIME_LOGGED = "time.logged"
    TIME_UPDATED = "time.updated"
    TIME_DELETED = "time.deleted"
    EXPENSE_RECORDED = "expense.recorded"
    SLA_BREACHED = "sla.breached"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    SUBSCRIPTION_CHANGED = "subscription.changed"
    PAYMENT_RECEIVED = "payment.received"
    # Made by the schedule's tick, not received from outside: due dates become events, so they are deduplicated,
    # queued, retried and audited exactly like the rest.
    PERIOD_DUE = "period.due"
    CONTRACT_ENDED = "contract.ended"
    # Made by the accounting sync (QuickBooks webhooks and the CDC catch-up): something changed in the books there.
    ACCOUNTING_CHANGED = "accounting.changed"


INBOUND = frozenset(EventType) - {EventType.PERIOD_DUE, EventType.CONTRACT_ENDED, EventType.ACCOUNTING_CHANGED}


def _decimal_text(v: object) -> str:
    """Hours and amounts travel as decimal strings; a JSON number is refused (0.1 + 0.2 must not reach a bill)."""
    if isinstance(v, float | bool):
        raise ValueError('must be a decimal string such as "7.5", not a JSON number')
    if isinstance(v, int):
        v = str(v)
    if not isinstance(v, str):
        raise ValueError("must be a decimal string")
    try:
        d = Decimal(v.strip())
    except InvalidOperation:
        raise ValueError(f"{v!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValueError("must be a finite number")
    return v.strip()


DecimalText = Annotated[str, BeforeValidator(_decimal_text)]
Ref = Annotated[str, Field(min_length=1, max_length=150)]


class EventData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def subject(self) -> str | None:
        """What the event is about, for ordering events about the same thing; None when order does not matter."""
        return None


class DealWon(EventData):
    deal_ref: Ref
    client_ref: Ref                       # the company the deal is with (or the deal itself when there is none)
    client_name: str = Field(min_length=1, max_length=200)
    pipeline: str = ""
    won_on: date
    amount: DecimalText | None = None
    currency: str | None = None
    contact_email: str | None = None

    def subject(self) -> str:
        return f"deal:{self.deal_ref}"


class MilestoneCompleted(EventData):
    milestone_ref: Ref                    # e.g. jira:MIG-7; matched against a milestone's external_ref
    name: str = Field(default="", max_length=200)
    project_ref: str = ""                 # e.g. jira:project:MIG; with an alias, finds the client by name
    completed_on: date

    def subject(self) -> str:
        return f"milestone:{self.milestone_ref}"


class TimeLogged(EventData):
    entry_ref: Ref
    client_ref: Ref
    person: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=100)
    date: date
    hours: DecimalText
    description: str = Field(default="", max_length=5000)
    billable: bool = True

    def subject(self) -> str:
        return f"time:{self.entry_ref}"


class TimeUpdated(TimeLogged):
    pass


class TimeDeleted(EventData):
    entry_ref: Ref

    def subject(self) -> str:
        return f"time:{self.entry_ref}"


class ExpenseRecorded(EventData):
    expense_ref: Ref
    client_ref: Ref
    date: date
    description: str = Field(min_length=1, max_length=2000)
    cost: DecimalText

    def subject(self) -> str:
        return f"expense:{self.expense_ref}"


class SlaBreached(EventData):
    client_ref: Ref
    occurred_on: date
    description: str = Field(min_length=1, max_length=2000)


class SubscriptionRenewed(EventData):
    client_ref: Ref
    renewed_on: date


class SubscriptionChanged(EventData):
    """A subscription's seat count changes from a date (a licence portal, a PSA): a new version of its terms."""

    client_ref: Ref
    product: str = Field(default="", max_length=200)  # which subscription, when the client has several
    seats: int = Field(ge=1)
    effective_on: date

    def subject(self) -> str:
        return f"subscription:{self.client_ref}:{self.product}"


class PaymentReceived(EventData):
    invoice_number: Ref
    amount: DecimalText
    received_on: date
    reference: str = Field(default="", max_length=200)
    # Optional: when given and not the invoice's currency, the payment is parked for a person (never converted).
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    payer: str = Field(default="", max_length=200)


class PeriodDue(EventData):
    client_id: int
    arrangement_id: int
    period_start: date
    period_end: date


class ContractEnded(EventData):
    client_id: int
    arrangement_id: int
    ends_on: date


class AccountingChanged(EventData):
    """An entity changed in the accounting system (QuickBooks Online): a webhook names it, the CDC catch-up also
    carries the object as it was read. The worker reads it (when not carried) and acts on it."""

    provider: Literal["quickbooks"] = "quickbooks"
    realm_id: Ref
    entity: str = Field(min_length=1, max_length=40)
    entity_id: Ref
    operation: str = Field(default="", max_length=20)
    changed_at: datetime | None = None
    via: Literal["webhook", "cdc", "drift"] = "webhook"
    object: dict[str, Any] | None = None   # as read from there (CDC carries it; a webhook's is read by the worker)
    missing: bool = False                    # read, and not there any more

    def subject(self) -> str:
        return f"{self.provider}:{self.realm_id}:{self.entity}:{self.entity_id}"


DATA_MODELS: dict[EventType, type[EventData]] = {
    EventType.DEAL_WON: DealWon, EventType.MILESTONE_COMPLETED: MilestoneCompleted,
    EventType.TIME_LOGGED: TimeLogged, EventType.TIME_UPDATED: TimeUpdated, EventType.TIME_DELETED: TimeDeleted,
    EventType.EXPENSE_RECORDED: ExpenseRecorded, EventType.SLA_BREACHED: SlaBreached,
    EventType.SUBSCRIPTION_RENEWED: SubscriptionRenewed, EventType.PAYMENT_RECEIVED: PaymentReceived,
    EventType.SUBSCRIPTION_CHANGED: SubscriptionChanged,
    EventType.PERIOD_DUE: PeriodDue, EventType.CONTRACT_ENDED: ContractEnded,
    EventType.ACCOUNTING_CHANGED: AccountingChanged,
}


def fields_of(event_type: EventType) -> frozenset[str]:
    """The data fields an event type carries (rules may only test these)."""
    return frozenset(DATA_MODELS[event_type].model_fields)

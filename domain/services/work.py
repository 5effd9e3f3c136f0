"""Recording billable work: time entries, expenses, completed milestones, SLA breaches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from domain.errors import BadTransition, Forbidden, NotFound, ValidationFailed
from domain.model.bounds import Day, Id
from domain.model.money import Money, parse_decimal
from domain.model.roles import Actor, Perm, Role
from domain.services._auth import client_scope, load_client, require
from domain.services._input import no_float, parse_input
from domain.services.views import MilestoneView, TimeEntryView
from domain.store.tables import ClientRow, ExpenseRow, SlaBreachRow, TimeEntryRow
from domain.store.uow import UnitOfWork


class TimeEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Id
    person: str = Field(default="", max_length=200)
    role: str = Field(min_length=1, max_length=100)
    date: Day
    hours: str | int
    description: str = Field(default="", max_length=5000)
    arrangement_id: Id | None = None
    external_ref: str | None = Field(default=None, max_length=200)


def _hours(value: object) -> int:
    h = parse_decimal(value, "hours", max_places=2)
    if h <= 0:
        raise ValidationFailed("must be more than zero", code="validation.not_positive", field="hours")
    if h > 24:
        raise ValidationFailed("a single entry cannot exceed 24 hours", code="validation.too_large", field="hours")
    return int(h * 100)


def _check_time(uow: UnitOfWork, actor: Actor, data: TimeEntryIn) -> tuple[ClientRow, str, int]:
    """log_time's checks (a book import's too): the client (in the actor's scope), who worked, the hours (1/100)."""
    centi = _hours(data.hours)
    client = uow.clients.get(data.client_id)
    if client is None:
        raise NotFound(f"no client with id {data.client_id}", code="client.not_found", field="client_id")
    scope = client_scope(actor)
    if scope is not None and client.id not in scope:
        raise NotFound(f"no client with id {data.client_id}", code="client.not_found", field="client_id")
    person = data.person.strip() or (actor.email or "")
    if actor.role == Role.CONTRACTOR and person != actor.email:
        raise Forbidden("contractors log time for themselves only", field="person")
    if not person:
        raise ValidationFailed("who did the work? give person", field="person")
    if data.arrangement_id is not None:
        arr = uow.arrangements.get(data.arrangement_id)
        if arr is None or arr.client_id != client.id or arr.kind != "time_and_materials":
            raise ValidationFailed("must be a time and materials arrangement of this client",
                                   field="arrangement_id")
    return client, person, centi


def _unbilled_warning(uow: UnitOfWork, actor: Actor, client: ClientRow) -> list[str]:
    # Drafting bills time only through a time and materials arrangement: without one these hours would wait
    # unseen, so the person logging them hears it now (a tracker's webhook has nobody to tell: not asked).
    arrangements = uow.arrangements.for_client(client.id) if actor.is_person_like else None
    if arrangements is not None and not any(a.kind == "time_and_materials" for a in arrangements):
        return [f"{client.name} has no active time and materials arrangement: these hours will not be billed "
                "until one is added"]
    return []


def log_time(uow: UnitOfWork, actor: Actor, data: TimeEntryIn | Mapping[str, Any]) -> TimeEntryView:
    """Record hours worked. Contractors log for themselves only; the entry is theirs."""
    require(actor, Perm.LOG_TIME)
    data = parse_input(TimeEntryIn, data)
    with uow:
        client, person, centi = _check_time(uow, actor, data)
        user = uow.users.by_email(person)
        row = uow.work.add(TimeEntryRow(
            client_id=client.id, arrangement_id=data.arrangement_id, user_id=user.id if user else None,
            person=person, role=data.role,
            day=data.date, hours_centi=centi, description=data.description, external_ref=data.external_ref,
            created_at=uow.clock.now()))
        view = TimeEntryView.of(row)
        view.warnings.extend(_unbilled_warning(uow, actor, client))
        uow.audit.record(actor, "time.logged", "time_entry", row.id, after=view.model_dump(mode="json"))
        uow.commit()
    return view


@dataclass(frozen=True)
class TimePreview:
    """What log_time would record: computed, not stored."""

    client_name: str
    person: str
    hours: str
    warnings: list[str]


def preview_time(uow: UnitOfWork, actor: Actor, data: TimeEntryIn | Mapping[str, Any]) -> TimePreview:
    """log_time's checks and what it would record, without recording it; refuses as log_time would."""
    require(actor, Perm.LOG_TIME)
    data = parse_input(TimeEntryIn, data)
    with uow:
        client, person, centi = _check_time(uow, actor, data)
        return TimePreview(client.name, person, f"{centi // 100}.{centi % 100:02d}",
                           _unbilled_warning(uow, actor, client))


def list_time_entries(uow: UnitOfWork, actor: Actor, client_id: int | None = None, limit: int = 200,
                      offset: int = 0) -> list[TimeEntryView]:
    """Time entries the actor may see: contractors their own, account managers their clients'."""
    with uow:
        if actor.role == Role.CONTRACTOR:
            rows = uow.work.time_entries(client_id=client_id, user_id=actor.user_id, limit=limit, offset=offset)
        else:
            require(actor, Perm.VIEW_BOOKS)
            rows = uow.work.time_entries(client_id=client_id, only_client_ids=client_scope(actor), limit=limit,
                                         offset=offset)
        return [TimeEntryView.of(r) for r in rows]


class ExpenseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Id
    arrangement_id: Id
    date: Day
    description: str = Field(min_length=1, max_length=2000)
    cost: Annotated[str | int, BeforeValidator(no_float)]


def record_expense(uow: UnitOfWork, actor: Actor, data: ExpenseIn | Mapping[str, Any]) -> dict[str, object]:
    """Record hardware or an expense to pass through at cost plus the arrangement's markup."""
    require(actor, Perm.RECORD_WORK)
    data = parse_input(ExpenseIn, data)
    with uow:
        client = load_client(uow, actor, data.client_id)
        arr = uow.arrangements.get(data.arrangement_id)
        if arr is None or arr.client_id != client.id or arr.kind != "pass_through":
            raise ValidationFailed("must be a pass-through arrangement of this client", field="arrangement_id")
        cost = Money.parse(data.cost, client.currency, "cost")
        row = uow.work.add(ExpenseRow(client_id=client.id, arrangement_id=arr.id, day=data.date,
                                      description=data.description, cost_minor=cost.minor, currency=cost.currency,
                                      created_at=uow.clock.now()))
        out: dict[str, object] = {"id": row.id, "client_id": client.id, "arrangement_id": arr.id,
                                  "date": data.date.isoformat(), "description": data.description,
                                  "cost": cost.text, "currency": cost.currency}
        uow.audit.record(actor, "expense.recorded", "expense", row.id, after=out)
        uow.commit()
    return out


def get_milestone(uow: UnitOfWork, actor: Actor, milestone_id: int) -> tuple[MilestoneView, str]:
    """A milestone the actor may record work on, and its client's name."""
    require(actor, Perm.RECORD_WORK)
    with uow:
        m = uow.arrangements.milestone(milestone_id)
        if m is None:
            raise NotFound(f"no milestone with id {milestone_id}", code="milestone.not_found", field="milestone_id")
        client = load_client(uow, actor, m.client_id)
        return MilestoneView.of(m, uow.work.is_claimed("milestone", m.id)), client.name


def complete_milestone(uow: UnitOfWork, actor: Actor, milestone_id: int, completed_on: date | None = None,
                       ) -> MilestoneView:
    """Mark a milestone done, which makes its fee billable. Completing it again changes nothing."""
    require(actor, Perm.RECORD_WORK)
    with uow:
        m = uow.arrangements.milestone(milestone_id)
        if m is None:
            raise NotFound(f"no milestone with id {milestone_id}", code="milestone.not_found", field="milestone_id")
        load_client(uow, actor, m.client_id)
        if m.cancelled_on is not None:
            raise BadTransition(f"this milestone was cancelled on {m.cancelled_on} ({m.cancel_reason}): it is never "
                                "billed", code="milestone.cancelled", field="milestone_id")
        if m.completed_on is None:
            m.completed_on = completed_on or uow.clock.today()
            uow.audit.record(actor, "milestone.completed", "milestone", m.id, before={"completed_on": None},
                             after={"completed_on": m.completed_on.isoformat(), "client_id": m.client_id})
        view = MilestoneView.of(m, uow.work.is_claimed("milestone", m.id))
        uow.commit()
    return view


class BreachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: Id
    arrangement_id: Id
    occurred_on: Day
    description: str = Field(min_length=1, max_length=2000)


def record_breach(uow: UnitOfWork, actor: Actor, data: BreachIn | Mapping[str, Any]) -> dict[str, object]:
    """Record an SLA breach; the credit lands as a negative line on the next invoice."""
    require(actor, Perm.RECORD_WORK)
    data = parse_input(BreachIn, data)
    with uow:
        client = load_client(uow, actor, data.client_id)
        arr = uow.arrangements.get(data.arrangement_id)
        if arr is None or arr.client_id != client.id or arr.kind != "sla_credit":
            raise ValidationFailed("must be an SLA credit arrangement of this client", field="arrangement_id")
        row = uow.work.add(SlaBreachRow(client_id=client.id, arrangement_id=arr.id, occurred_on=data.occurred_on,
                                        description=data.description, created_at=uow.clock.now()))
        out: dict[str, object] = {"id": row.id, "client_id": client.id, "arrangement_id": arr.id,
                                  "occurred_on": data.occurred_on.isoformat(), "description": data.description}
        uow.audit.record(actor, "sla.breach_recorded", "sla_breach", row.id, after=out)
        uow.commit()
    return out


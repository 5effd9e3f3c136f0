"""Recording billable work: time entries, expenses, completed milestones, SLA breaches."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from channels.http._deps import CurrentActor, Uow
from channels.http._models import CompleteMilestoneRequest, ExpenseRequest, TimeEntryRequest
from domain.model.bounds import INT64_MAX, Id
from domain.services import work
from domain.services.views import MilestoneView, TimeEntryView

router = APIRouter(prefix="/v1", tags=["work"])


@router.post("/time-entries", status_code=201, summary="Log hours worked")
def log_time(body: TimeEntryRequest, actor: CurrentActor, uow: Uow) -> TimeEntryView:
    return work.log_time(uow, actor, body)


@router.get("/time-entries", summary="Time entries (contractors: their own)")
def list_time_entries(actor: CurrentActor, uow: Uow, client_id: Id | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                      offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0) -> list[TimeEntryView]:
    return work.list_time_entries(uow, actor, client_id, limit, offset)


@router.post("/expenses", status_code=201, summary="Record an expense to pass through")
def record_expense(body: ExpenseRequest, actor: CurrentActor, uow: Uow) -> dict[str, Any]:
    return work.record_expense(uow, actor, body)


@router.post("/milestones/{milestone_id}/complete", summary="Mark a milestone completed (makes it billable)")
def complete_milestone(milestone_id: Id, actor: CurrentActor, uow: Uow,
                       body: CompleteMilestoneRequest | None = None) -> MilestoneView:
    return work.complete_milestone(uow, actor, milestone_id, body.completed_on if body else None)


@router.post("/sla-breaches", status_code=201, summary="Record an SLA breach (credited on the next invoice)")
def record_breach(body: work.BreachIn, actor: CurrentActor, uow: Uow) -> dict[str, Any]:
    return work.record_breach(uow, actor, body)

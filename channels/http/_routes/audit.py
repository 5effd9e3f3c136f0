"""The audit log: who did what, when, and why; and the proof nobody altered it."""

from typing import Annotated

from fastapi import APIRouter, Query

from channels.http._deps import CurrentActor, Uow
from domain.model.bounds import INT64_MAX
from domain.services import audit
from domain.services.views import AuditEntryView, VerifyReport

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", summary="Audit entries in order, optionally for one subject")
def audit_history(actor: CurrentActor, uow: Uow, subject_type: str | None = None, subject_id: str | None = None,
                  after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AuditEntryView]:
    return audit.audit_history(uow, actor, subject_type, subject_id, limit, after_seq)


@router.get("/verify", summary="Recompute the hash chain; report the first altered entry")
def verify_chain(actor: CurrentActor, uow: Uow) -> VerifyReport:
    return audit.verify_chain(uow, actor)

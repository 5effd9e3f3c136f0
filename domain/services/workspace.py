"""Workspace settings: numbering formats, tax rounding, check thresholds, the dunning schedule, send on issue."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.errors import ValidationFailed
from domain.model import numbering
from domain.model.money import Money, check_currency
from domain.model.roles import Actor, Perm
from domain.model.tax import TaxRounding
from domain.model.versions import Proration
from domain.services._auth import require
from domain.services._input import refusal
from domain.services.reminders import DEFAULT_SCHEDULE, check_schedule
from domain.store.tables import WorkspaceRow
from domain.store.uow import UnitOfWork


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    invoice_number_format: str
    credit_note_number_format: str
    tax_rounding: TaxRounding
    approval_thresholds: dict[str, str]
    deviation_pct: str
    duplicate_days: int = Field(ge=0, le=365)
    pilot_mode: bool
    locale: str
    reminder_offsets: list[int] = Field(default_factory=lambda: list(DEFAULT_SCHEDULE))  # days from the due date
    send_on_issue: bool = False  # e-mail an invoice in the transaction that issues it
    # a period that spans an amendment: split by day, or priced with the version of its first day
    amendment_proration: Proration = Proration.BY_DAY


def _view(ws: WorkspaceRow) -> WorkspaceSettings:
    return WorkspaceSettings(name=ws.name, invoice_number_format=ws.invoice_number_format,
                             credit_note_number_format=ws.credit_note_number_format,
                             tax_rounding=TaxRounding(ws.tax_rounding),
                             approval_thresholds=dict(ws.approval_thresholds),
                             deviation_pct=ws.deviation_pct, duplicate_days=ws.duplicate_days,
                             pilot_mode=ws.pilot_mode, locale=ws.locale,
                             reminder_offsets=list(ws.reminder_offsets or []), send_on_issue=ws.send_on_issue,
                             amendment_proration=Proration(ws.amendment_proration or Proration.BY_DAY.value))


def get_settings(uow: UnitOfWork, actor: Actor) -> WorkspaceSettings:
    require(actor, Perm.VIEW_BOOKS)
    with uow:
        return _view(uow.workspace.get())


def update_settings(uow: UnitOfWork, actor: Actor, changes: dict[str, Any]) -> WorkspaceSettings:
    """Change settings; each value is validated and the change audited."""
    require(actor, Perm.MANAGE_SETTINGS)
    with uow:
        ws = uow.workspace.get()
        before = _view(ws).model_dump(mode="json")
        try:
            merged = WorkspaceSettings.model_validate({**before, **changes})
        except ValidationError as e:
            raise refusal(e) from None
        numbering.check_format(merged.invoice_number_format, "invoice_number_format")
        numbering.check_format(merged.credit_note_number_format, "credit_note_number_format")
        probe = date(2026, 1, 1)
        if numbering.series_key(merged.invoice_number_format, probe) == \
                numbering.series_key(merged.credit_note_number_format, probe):
            raise ValidationFailed("credit notes need their own series", field="credit_note_number_format")
        for cur, amount in merged.approval_thresholds.items():
            check_currency(cur, f"approval_thresholds.{cur}")
            Money.parse(amount, cur, f"approval_thresholds.{cur}")
        try:
            dev = Decimal(merged.deviation_pct)
        except Exception:
            raise ValidationFailed("must be a number", field="deviation_pct") from None
        if not dev.is_finite() or dev < 0:
            raise ValidationFailed("must be zero or more", field="deviation_pct")
        merged.reminder_offsets = list(check_schedule(merged.reminder_offsets))
        for key, value in merged.model_dump(mode="json").items():
            setattr(ws, key, value)
        after = _view(ws).model_dump(mode="json")
        uow.audit.record(actor, "workspace.updated", "workspace", 1, before=before, after=after)
        uow.commit()
        return _view(ws)

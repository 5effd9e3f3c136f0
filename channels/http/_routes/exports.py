"""Exports for the accountant: DATEV's Buchungsstapel for a month, and the DATEV settings it needs."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from channels.http._deps import CurrentActor, Uow
from domain.errors import ValidationFailed
from domain.services import exports

router = APIRouter(prefix="/v1/exports", tags=["exports"])


class DatevSettingsPatch(BaseModel):
    """Any of the DATEV settings; the rest stay as they are."""

    model_config = ConfigDict(extra="forbid")
    consultant_number: int | None = None
    client_number: int | None = None
    chart: str | None = None
    fiscal_year_start_month: int | None = None
    account_length: int | None = None
    revenue_accounts: dict[str, int] | None = None
    debtor_start: int | None = None
    debtor_accounts: dict[str, int] | None = None


def _rates(values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        cur, sep, rate = item.partition(":")
        if not sep or len(cur) != 3:
            raise ValidationFailed(f"{item!r}: write a rate as CUR:units-per-EUR, e.g. GBP:0.8612", field="rates")
        out[cur.upper()] = rate
    return out


@router.get("/datev", response_class=Response, summary="A month as DATEV EXTF Buchungsstapel (owners and finance)",
            responses={200: {"content": {"text/csv": {}}, "description": "Windows-1252 CSV for DATEV"}})
def datev_export(actor: CurrentActor, uow: Uow,
                 month: Annotated[str, Query(description="YYYY-MM", pattern=r"^\d{4}-\d{2}$")],
                 rates: Annotated[list[str] | None, Query(description="CUR:units per 1 EUR, for documents "
                                                                      "not in EUR, e.g. GBP:0.8612")] = None,
                 ) -> Response:
    out = exports.export_datev(uow, actor, month, _rates(rates or []))
    return Response(out.content, media_type="text/csv; charset=windows-1252",
                    headers={"Content-Disposition": f'attachment; filename="{out.filename}"',
                             "X-Bookings": str(out.bookings), "X-Documents": str(out.documents)})


@router.get("/datev/settings", summary="The DATEV settings (owners and finance)")
def get_datev_settings(actor: CurrentActor, uow: Uow) -> exports.DatevSettings:
    return exports.get_datev_settings(uow, actor)


@router.patch("/datev/settings", summary="Change the DATEV settings (owners and finance)")
def update_datev_settings(body: DatevSettingsPatch, actor: CurrentActor, uow: Uow) -> exports.DatevSettings:
    return exports.update_datev_settings(uow, actor, body.model_dump(exclude_unset=True))

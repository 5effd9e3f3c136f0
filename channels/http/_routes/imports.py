"""Onboarding a whole book: POST /v1/imports with the three CSV files (issue 13)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from channels.http._deps import CurrentActor
from domain.errors import ValidationFailed
from domain.services import imports
from domain.services.imports import ImportReport

router = APIRouter(prefix="/v1/imports", tags=["imports"])


class ImportIn(BaseModel):
    """The CSV files as text (UTF-8, a header row first; any may be left out) and whether to only check them."""

    model_config = ConfigDict(extra="forbid")
    clients: str = Field(default="", description="clients.csv (see imports/templates/clients.csv)")
    arrangements: str = Field(default="", description="arrangements.csv")
    time: str = Field(default="", description="time.csv: opening unbilled time entries")
    dry_run: bool = Field(default=True, description="true (the default): check every row and keep nothing; "
                                                    "false: import, all or nothing")


_MULTIPART_SCHEMA = {
    "type": "object",
    "properties": {
        "clients": {"type": "string", "format": "binary", "description": "clients.csv"},
        "arrangements": {"type": "string", "format": "binary", "description": "arrangements.csv"},
        "time": {"type": "string", "format": "binary", "description": "time.csv"},
        "dry_run": {"type": "string", "enum": ["true", "false"], "default": "true"},
    },
}

DOC = """Import clients, arrangements (with their terms) and opening unbilled time from CSV files, one column per
field (templates in `imports/templates/`; columns in the README, "Importing your book"). Owners and finance.

Send the files as `multipart/form-data` (parts `clients`, `arrangements`, `time`, and `dry_run`) or as JSON with the
CSV text. A dry run (the default) checks every row with the API's own validation and answers the report: counts and
every problem with its file, line, column and what to do; nothing is kept. `dry_run=false` imports, all or nothing:
any problem refuses the whole import (422 `import.invalid`, the problems in `details.problems`). Rows are matched by
`external_id`: sending the same files again changes nothing; a row changed since it was imported is reported, never
overwritten. Uploads may be up to `BILLABLE_MAX_IMPORT_BYTES` (default 20 MB); a malformed upload is 422."""


def _flag(value: str, field: str = "dry_run") -> bool:
    text = value.strip().lower()
    if text in ("true", "1", "yes", "on", ""):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValidationFailed(f"{value[:20]!r} is not true or false", code="validation.invalid", field=field)


def _text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValidationFailed(f"{name} is not UTF-8 text (byte {e.start}): save the CSV as UTF-8",
                               code="import.not_utf8", field=name) from None


async def read_upload(request: Request, limit: int) -> tuple[dict[str, str], bool]:
    """The files and the dry-run flag of an import request, multipart or JSON; 422 naming the part when it is
    malformed."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        body = ImportIn.model_validate_json(await request.body())
        return {f: getattr(body, f) for f in imports.FILES}, body.dry_run
    if not content_type.startswith("multipart/form-data"):
        raise ValidationFailed("send the files as multipart/form-data (parts clients, arrangements, time) or as "
                               "JSON with the CSV text", code="import.content_type", field="body")
    try:
        form = await request.form(max_files=3, max_fields=5, max_part_size=limit)
    except Exception as e:  # the multipart parser's refusals (malformed, too many parts): the caller's mistake
        detail = getattr(e, "detail", None) or str(e) or "malformed multipart body"
        raise ValidationFailed(f"the upload cannot be read: {detail}", code="import.malformed",
                               field="body") from None
    files: dict[str, str] = {}
    dry_run = True
    try:
        for name, value in form.multi_items():
            if name == "dry_run" and isinstance(value, str):
                dry_run = _flag(value)
            elif name in imports.FILES and name not in files:
                data = await value.read() if isinstance(value, UploadFile) else value.encode()
                files[name] = _text(name, data)
            else:
                raise ValidationFailed(f"unexpected part {name[:40]!r}: send clients, arrangements, time and dry_run "
                                       "once each", code="import.malformed", field=name[:40] or "body")
    finally:
        await form.close()
    return files, dry_run


@router.post("", summary="Import a book from CSV (dry run by default; owners and finance)", description=DOC,
             response_model=ImportReport, openapi_extra={"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
                 "application/json": {"schema": ImportIn.model_json_schema()}}}})
async def import_book(request: Request, actor: CurrentActor) -> Any:
    files, dry_run = await read_upload(request, request.app.state.settings.max_import_bytes)
    db = request.app.state.db
    return await run_in_threadpool(imports.import_book, db.uow(), actor, files, dry_run)

"""The dashboard's import page (issue 13): upload the three CSV files, see the dry run's report (every problem with
its file, line, column and what to do), then commit. Both steps are `imports.import_book` as the signed-in person;
the commit sends the same files again (the page carries them) and is checked again, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from channels.web._routes import SECURITY_HEADERS, SESSION_COOKIE, _db, _page, _Refused, _session, router
from domain.errors import BillingError, Unauthenticated
from domain.model.roles import Perm
from domain.services import imports, sessions
from domain.services.imports import ImportRefused, ImportReport
from domain.services.sessions import WebSession

TEMPLATES = Path(__file__).resolve().parents[2] / "imports" / "templates"


def _may(ws: WebSession) -> None:
    if not ws.actor.can(Perm.MANAGE_CLIENTS):
        raise _Refused(ws, 403, "Only owners and finance import a book.", "Not yours to do")


def _show(request: Request, ws: WebSession, report: ImportReport | None = None, texts: dict[str, str] | None = None,
          error: str = "", status: int = 200) -> Response:
    return _page(request, ws, "import.html", status=status, report=report, texts=texts or {}, error=error,
                 files_names=imports.FILES)


async def _upload(request: Request) -> tuple[WebSession, dict[str, str]]:
    """The posted files (uploads, or the texts the report page carries to the commit) from a signed-in person
    whose form carries their session's CSRF token; anything else is refused."""
    limit = request.app.state.settings.max_import_bytes
    try:
        form = await request.form(max_files=3, max_fields=10, max_part_size=limit)
    except Exception:  # the parser's refusals: a malformed upload
        raise _Refused(None, 422, "That upload cannot be read: choose the CSV files again.") from None
    try:
        try:
            ws = await run_in_threadpool(sessions.session_for, _db(request).uow(readonly=True),
                                         request.cookies.get(SESSION_COOKIE, ""))
        except Unauthenticated:
            raise _Refused(None, 403, "You are not signed in (or your session ended): sign in and try again.",
                           "Sign in first") from None
        token = form.get("csrf_token")
        if not sessions.csrf_ok(ws, token if isinstance(token, str) else None):
            raise _Refused(ws, 403, "This form did not come from your current session (its security token is "
                                    "missing or wrong). Reload the page and try again.", "Form refused")
        _may(ws)
        texts: dict[str, str] = {}
        for name in imports.FILES:
            value = form.get(name)
            data = await value.read() if isinstance(value, UploadFile) else (value or "").encode()
            try:
                texts[name] = data.decode("utf-8-sig").replace("\r\n", "\n")
            except UnicodeDecodeError:
                raise _Refused(ws, 422, f"{name}.csv is not UTF-8 text: save it as CSV UTF-8 and upload it again."
                               ) from None
    finally:
        await form.close()
    return ws, texts


@router.get("/import")
def import_page(request: Request) -> Response:
    ws = _session(request)
    _may(ws)
    return _show(request, ws)


@router.get("/import/template")
def import_template(request: Request, file: str = "clients") -> Response:
    """A template CSV (a header row and an example row), as in the repository's imports/templates/."""
    ws = _session(request)
    _may(ws)
    if file not in imports.FILES:
        raise _Refused(ws, 404, "There are three templates: clients, arrangements and time.")
    return Response((TEMPLATES / f"{file}.csv").read_bytes(), media_type="text/csv; charset=utf-8",
                    headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{file}.csv"'})


async def _run(request: Request, commit: bool) -> Response:
    ws, texts = await _upload(request)

    def call() -> Any:
        return imports.import_book(_db(request).uow(), ws.actor, texts, dry_run=not commit)

    try:
        report = await run_in_threadpool(call)
    except ImportRefused as e:  # a commit the files' problems refused: nothing imported
        return _show(request, ws, e.report, texts, status=422)
    except BillingError as e:
        if e.status != 422:
            raise _Refused(ws, e.status, e.message) from None
        return _show(request, ws, error=e.message, status=422)
    return _show(request, ws, report, texts)


@router.post("/import")
async def import_check(request: Request) -> Response:
    """The dry run: the report, and (when there is no problem) the Commit button carrying the same files."""
    return await _run(request, commit=False)


@router.post("/import/commit")
async def import_commit(request: Request) -> Response:
    return await _run(request, commit=True)

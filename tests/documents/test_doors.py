"""The document doors: GET /v1/invoices/{id}/pdf and /html over real HTTP, `billable invoices preview --pdf`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.cli.main import app as cli_app
from domain.store.session import Database
from tests.documents.conftest import issued_full
from tests.documents.test_render import pdf_text
from tests.services.conftest import World
from tests.support.fixtures import Clients, api_server, as_user, people, server

__all__ = ["api_server", "as_user", "people", "server"]


def test_pdf_and_html_over_http(world: World, as_user: Clients) -> None:
    inv = issued_full(world)
    r = as_user.finance.get(f"/v1/invoices/{inv.id}/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert f'filename="{inv.number}.pdf"' in r.headers["content-disposition"]
    text = pdf_text(r.content)
    assert inv.number is not None and inv.number in text and "Nordwerk" in text
    r = as_user.viewer.get(f"/v1/invoices/{inv.id}/html")
    assert r.status_code == 200 and "Nach Aufwand" in r.text  # a de_DE client: in German
    assert as_user.anonymous.get(f"/v1/invoices/{inv.id}/pdf").status_code == 401
    assert as_user.account_manager.get(f"/v1/invoices/{inv.id}/pdf").status_code == 404
    assert as_user.finance.get("/v1/invoices/99999/html").status_code == 404


def test_cli_preview_writes_the_pdf(world: World, db: Database, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    inv = issued_full(world)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLABLE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    out = tmp_path / "out.pdf"
    result = CliRunner().invoke(cli_app, ["invoices", "preview", str(inv.number), "--pdf", str(out),
                                          "--as", "fin@books.example"])
    assert result.exit_code == 0, result.output
    assert inv.number is not None and inv.number in pdf_text(out.read_bytes())

    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "invoice.html.j2").write_text("{% if %}")
    monkeypatch.setenv("BILLABLE_TEMPLATES_DIR", str(tmp_path / "tpl"))
    result = CliRunner().invoke(cli_app, ["invoices", "preview", str(inv.id), "--as", "fin@books.example"])
    assert result.exit_code == 1 and "template refused" in result.output and "line 1" in result.output


def test_send_over_http_queues_the_delivery(world: World, as_user: Clients) -> None:
    inv = issued_full(world)
    assert as_user.finance.get(f"/v1/invoices/{inv.id}/delivery").json() is None
    assert as_user.viewer.post(f"/v1/invoices/{inv.id}/send").status_code == 403
    d = as_user.finance.ok("POST", f"/v1/invoices/{inv.id}/send", json={"to": ["ap@other.example"]})
    assert d["status"] == "queued" and d["recipients"] == ["ap@other.example"] and d["message_id"].startswith("<")
    assert as_user.viewer.ok("GET", f"/v1/invoices/{inv.id}/delivery")["message_id"] == d["message_id"]

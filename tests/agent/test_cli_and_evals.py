"""The CLI doors (billable ask, billable chat with y/n, billable evals run) and the evals themselves: every
scenario passes once with the offline interpreter (the k=4 run belongs to `billable evals run`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from channels.cli.main import app
from domain.services import invoicing
from evals import Seeded, load_scenarios, run

runner = CliRunner()


@pytest.fixture
def cli_books(books_lite: Seeded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    for var in ("BILLABLE_MODEL", "BILLABLE_MODEL_BASE_URL", "BILLABLE_MODEL_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BILLABLE_DATABASE_URL", books_lite.db.engine.url.render_as_string(hide_password=False))
    yield books_lite


def test_ask_answers_one_question(cli_books: Seeded) -> None:
    r = runner.invoke(app, ["ask", "--as", "fin@books.example", "what's overdue?"])
    assert r.exit_code == 0, r.output
    assert "INV-2026-000001" in r.output and "Initech AG" in r.output


def test_ask_moves_no_money_without_yes(cli_books: Seeded) -> None:
    r = runner.invoke(app, ["ask", "--as", "fin@books.example", "void INV-2026-000003 because duplicate"])
    assert r.exit_code == 0 and "nobody can confirm on this channel" in r.output
    r = runner.invoke(app, ["ask", "--as", "fin@books.example", "--yes", "void INV-2026-000003 because duplicate"])
    assert r.exit_code == 0 and "Confirmed by --yes: Void invoice INV-2026-000003" in r.output
    assert invoicing.get_invoice(cli_books.db.uow(), cli_books.actor("owner"),
                                 cli_books.ids["globex_february"]).status == "void"


def test_ask_as_nobody_is_one_red_line(cli_books: Seeded) -> None:
    r = runner.invoke(app, ["ask", "--as", "ghost@books.example", "hi"])
    assert r.exit_code == 1 and "no active user with e-mail ghost@books.example" in r.output


def test_chat_confirms_with_y_and_n(cli_books: Seeded) -> None:
    script = "\n".join(["approve Acme's March invoice", "n", "approve Acme's March invoice", "y",
                        "why did Globex go up?", "quit"]) + "\n"
    r = runner.invoke(app, ["chat", "--as", "fin@books.example"], input=script)
    assert r.exit_code == 0, r.output
    assert r.output.count("Please confirm") == 2 and "8,984.50 EUR" in r.output
    assert "did not approve" in r.output and "Approved and issued invoice INV-2026-000005" in r.output
    assert "up 2,940.00 GBP" in r.output
    assert invoicing.get_invoice(cli_books.db.uow(), cli_books.actor("owner"),
                                 cli_books.ids["acme_march"]).status == "issued"


def test_chat_ends_at_end_of_input_and_declines_what_waits(cli_books: Seeded) -> None:
    r = runner.invoke(app, ["chat", "--as", "fin@books.example"], input="void INV-2026-000003 because dup\n")
    assert r.exit_code == 0 and "did not void" in r.output


def test_evals_command_prints_the_figures(cli_books: Seeded) -> None:
    r = runner.invoke(app, ["evals", "run", "--only", "overdue", "-k", "2", "--strict"])
    assert r.exit_code == 0, r.output
    assert "pass^1 = 1.000   pass^2 = 1.000" in r.output and "overdue_account_manager_scope" in r.output


def test_every_scenario_passes_with_the_offline_interpreter() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 25
    report = run(scenarios, k=1)
    failed = {t.scenario.name: t.trials[0].failures for t in report.tasks if not t.trials[0].passed}
    assert failed == {}
    assert report.pass_hat(1) == 1.0
    tags = {tag for s in scenarios for tag in s.tags}
    assert {"status", "explain", "drafting", "approval", "roles", "injection", "money"} <= tags

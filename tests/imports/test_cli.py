"""`billable import` (both databases): the dry run's table of problems and exit code 1, the commit, a second run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from domain.model.roles import Actor
from domain.services import clients
from domain.store.session import Database
from tests.cli.conftest import Cli, cli, use_db

from .conftest import small_book

__all__ = ["cli", "use_db"]


def _write(folder: Path, files: dict[str, str]) -> list[str]:
    args = []
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
        args += [f"--{name}", str(folder / f"{name}.csv")]
    return args


def test_a_dry_run_then_the_commit(cli: Cli, use_db: Callable[[Database], None], db: Database, owner: Actor,
                                   tmp_path: Path) -> None:
    use_db(db)
    files = small_book(2)
    bad = dict(files, time=files["time"].replace("2026-03-02", "2026-02-30"))
    result = cli("import", *_write(tmp_path, bad))
    assert result.exit_code == 1
    assert "time.csv" in result.output and "date" in result.output and "2026-02-30" in result.output
    assert "2 problem(s)" in result.output
    assert clients.list_clients(db.uow(), owner) == []
    args = _write(tmp_path, files)
    dry = cli("import", "--dry-run", *args)
    assert dry.exit_code == 0, dry.output
    assert "nothing kept" in dry.output and clients.list_clients(db.uow(), owner) == []
    done = cli("import", "--commit", *args, "--as", "owner@msp.example")
    assert done.exit_code == 0, done.output
    assert "Imported: 2 clients, 4 arrangements, 2 time entries" in done.output
    assert len(clients.list_clients(db.uow(), owner)) == 2
    again = cli("import", "--commit", *args, "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.output[again.output.index("{"):again.output.rindex("}") + 1])
    assert report["clients"] == {"rows": 2, "new": 0, "unchanged": 2} and report["committed"] is True


def test_a_missing_file_or_no_file_is_one_red_line(cli: Cli, use_db: Callable[[Database], None], db: Database,
                                                  owner: Actor, tmp_path: Path) -> None:
    use_db(db)
    missing = cli("import", "--clients", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1 and "no file" in missing.output
    nothing = cli("import")
    assert nothing.exit_code == 1 and "at least one file" in nothing.output

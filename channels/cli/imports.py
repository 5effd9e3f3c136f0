"""`billable import`: onboard a whole book from CSV files (issue 13), a dry run first, then the commit. One call to
`imports.import_book` as the person named by --as; a progress bar while it works."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from channels.cli._common import AS_OPTION, CliError, console, fail, guarded, open_db, reader, settings
from domain.services import imports
from domain.services.imports import ImportRefused, ImportReport

SHOWN = 50  # problems printed; the rest are counted (a dry run with --json lists them all)


def _read(option: str, path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CliError(f"--{option}: no file {path}", "Templates are in imports/templates/") from None
    except UnicodeDecodeError as e:
        raise CliError(f"--{option}: {path} is not UTF-8 text (byte {e.start})",
                       "Save the CSV as UTF-8 (in a spreadsheet: CSV UTF-8)") from None
    except OSError as e:
        raise CliError(f"--{option}: cannot read {path} ({e.strerror})") from None


def _print(report: ImportReport) -> None:
    table = Table(title=None, show_edge=False)
    for col in ("", "rows", "new", "unchanged"):
        table.add_column(col, justify="right" if col else "left")
    for name in imports.FILES:
        c = getattr(report, name)
        table.add_row(f"{name}.csv", str(c.rows), str(c.new), str(c.unchanged))
    console.print(table)
    if report.problems:
        problems = Table(show_edge=False, show_lines=False)
        for col in ("file", "line", "column", "problem", "what to do"):
            problems.add_column(col, overflow="fold")
        for p in report.problems[:SHOWN]:
            value = f" ({p.value!r})" if p.value else ""
            problems.add_row(p.file, str(p.line), p.column, p.message + value, p.fix)
        console.print(problems)
        if report.problem_count > SHOWN:
            console.print(f"... and {report.problem_count - SHOWN} more (--json lists them all)")


@guarded
def import_book(
        clients: Path = typer.Option(None, "--clients", help="clients.csv (see imports/templates/)"),
        arrangements: Path = typer.Option(None, "--arrangements", help="arrangements.csv"),
        time: Path = typer.Option(None, "--time", help="time.csv: opening unbilled time entries"),
        commit: bool = typer.Option(False, "--commit/--dry-run", help="--dry-run (the default) checks every row "
                                    "and keeps nothing; --commit imports, all or nothing"),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        as_email: str = AS_OPTION) -> None:
    """Import clients, arrangements and opening time from CSV: a dry run first (every problem with its file, line,
    column and what to do), then --commit. Running the same files again changes nothing."""
    files = {"clients": _read("clients", clients), "arrangements": _read("arrangements", arrangements),
             "time": _read("time", time)}
    if not any(v.strip() for v in files.values()):
        raise CliError("give at least one file: --clients, --arrangements or --time",
                       "e.g. billable import --clients clients.csv --arrangements arrangements.csv --time time.csv")
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        columns = (TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
            task = bar.add_task("Reading the files", total=None)

            def progress(label: str, done: int, total: int) -> None:
                bar.update(task, description=label, completed=done, total=total)

            try:
                report = imports.import_book(db.uow(), actor, files, dry_run=not commit, progress=progress)
            except ImportRefused as e:
                report = e.report
    finally:
        db.dispose()
    if as_json:
        console.print_json(report.model_dump_json())
    else:
        _print(report)
    if report.problem_count:
        raise fail(f"{report.problem_count} problem(s) in the files: "
                   + ("nothing was imported" if commit else "fix them, then run the dry run again"),
                   "Each problem names the file, the line and the column, and what to do.", "import.invalid")
    if commit:
        console.print(f"[green]✓[/] Imported: {report.clients.new} clients, {report.arrangements.new} arrangements, "
                      f"{report.time.new} time entries (unchanged, already imported: "
                      f"{report.clients.unchanged + report.arrangements.unchanged + report.time.unchanged}). "
                      f"Audited as import {report.digest[:16]}.")
    else:
        console.print("[green]✓[/] Dry run: no problems, nothing kept. Import it with the same files and "
                      "[bold]--commit[/].")


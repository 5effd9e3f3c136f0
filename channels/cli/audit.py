"""`billable audit verify`: recompute the audit log's hash chain and name the first altered entry."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from channels.cli._common import AS_OPTION, console, err, guarded, open_db, reader, settings
from domain.services import audit

app = typer.Typer(no_args_is_help=True, help="Check the audit log has not been altered.")


@app.command("verify")
@guarded
def verify(as_email: str = AS_OPTION) -> None:
    """Walk the hash chain from the first entry; exit 1 and name the first broken entry if anything was altered."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        columns = (TextColumn("Verifying the audit chain"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("verify", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = audit.verify_chain(db.uow(readonly=True), actor, progress=progress)
    finally:
        db.dispose()
    if report.ok:
        console.print(f"[green]✓ OK[/]: {report.message}.")
        return
    err.print(f"[bold red]✗ BROKEN at entry {report.first_broken_seq}[/]: [red]{report.message}[/] "
              f"({report.entries} entries).", soft_wrap=True)
    err.print("Entries from that seq on cannot be trusted. Restore the database from a backup taken before it, "
              "and find out who had write access to the database.", style="yellow", soft_wrap=True)
    raise typer.Exit(1)

"""The `billable` command: set-up, the server, the demo workspace, users, invoices and the audit chain.

Each command is a few lines that call one domain service: the rules live there, for every door.
"""

from __future__ import annotations

import secrets

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from channels.cli import _render
from channels.cli import clients as _contract_commands  # noqa: F401 - adds its commands to `billable clients`
from channels.cli._common import SYSTEM, console, guarded, open_db, schema_revisions, settings, where
from channels.cli.accounting import app as accounting_app
from channels.cli.accounting_inbound import register as register_inbound
from channels.cli.audit import app as audit_app
from channels.cli.chat import ask, chat
from channels.cli.evals import app as evals_app
from channels.cli.events import events_app, pilot_app, rules_app, tick, worker
from channels.cli.exports import app as export_app
from channels.cli.imports import import_book
from channels.cli.invoices import app as invoices_app
from channels.cli.parties import clients_app, settings_app
from channels.cli.payments import app as payments_app
from channels.cli.users import app as users_app
from domain.services import demo as demo_svc
from domain.services import sessions

app = typer.Typer(
    name="billable", no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False,
    help="billable: bills IT-services work the moment it is done, never twice, and nothing wrong goes out "
         "unseen. Settings come from BILLABLE_* environment variables (default database: sqlite:///billable.db).")
app.add_typer(users_app, name="users")
app.add_typer(invoices_app, name="invoices")
app.add_typer(payments_app, name="payments")
app.add_typer(settings_app, name="settings")
app.add_typer(clients_app, name="clients")
app.add_typer(audit_app, name="audit")
app.add_typer(export_app, name="export")
register_inbound(accounting_app)  # drift, proposals, catch-up (the inbound half)
app.add_typer(accounting_app, name="accounting")
app.command()(chat)
app.command()(ask)
app.add_typer(evals_app, name="evals")
app.add_typer(events_app, name="events")
app.add_typer(rules_app, name="rules")
app.add_typer(pilot_app, name="pilot")
app.command(name="import")(import_book)
app.command()(tick)
app.command()(worker)


@app.command()
@guarded
def init() -> None:
    """Create or migrate the configured database to the newest schema (safe to run again)."""
    s = settings()
    db = open_db(s, migrate=True)
    current, _ = schema_revisions(db, s.database_url)
    db.dispose()
    console.print(f"[green]✓[/] Database ready at [bold]{where(s)}[/] (schema revision {current}).")
    console.print("Next: [bold]billable demo[/] to load a demo workspace, [bold]billable serve[/] to start the API.")


@app.command()
@guarded
def serve(host: str = typer.Option(None, help="Interface to listen on (default: BILLABLE_HOST, 127.0.0.1)."),
          port: int = typer.Option(None, help="Port (default: BILLABLE_PORT, 8000).")) -> None:
    """Migrate, then serve the HTTP API (docs at /docs) with the embedded worker until Ctrl+C."""
    import uvicorn

    from channels.http.app import create_app

    s = settings()
    host, port = host or s.host, port or s.port
    db = open_db(s, migrate=True)
    api = create_app(db=db, settings=s)
    embedded = None
    if s.worker == "embedded":
        from channels.worker import Worker, load_rules_file

        if s.rules_file:
            load_rules_file(db, s.rules_file, SYSTEM)
        embedded = api.state.worker = Worker.for_settings(db, s).start()
        embedded.listen()  # PostgreSQL: jobs committed by other API processes wake it too
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(f"[green]✓[/] billable on [bold]http://{shown}:{port}[/] · API docs: http://{shown}:{port}/docs "
                  f"· dashboard: http://{shown}:{port}/app/ · database: {where(s)} · Ctrl+C stops it", soft_wrap=True)
    try:
        uvicorn.run(api, host=host, port=port, log_level="info")
    finally:
        if embedded is not None:
            embedded.stop()
        db.dispose()


@app.command()
@guarded
def demo() -> None:
    """Load the demo workspace (3 clients, a month of work, invoices in every state, one user per role).

    Already loaded? Nothing is added twice: the demo users get fresh tokens, printed again.
    """
    s = settings()
    db = open_db(s, migrate=True)
    try:
        if demo_svc.is_loaded(db.uow()):
            report = demo_svc.load_demo(db.uow(), SYSTEM)
        else:
            columns = (TextColumn("[bold]Loading the demo workspace[/]"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TextColumn("{task.description}"))
            with Progress(*columns, console=console, transient=False) as bar:
                task = bar.add_task("", total=None)

                def progress(label: str, done: int, total: int) -> None:
                    bar.update(task, description=label, completed=done, total=total)

                report = demo_svc.load_demo(db.uow(), SYSTEM, progress=progress)
        # Like the tokens, a fresh dashboard password every run: stored hashed, so this is the only time to show it.
        password = secrets.token_urlsafe(12)
        for u in report.users:
            sessions.set_password(db.uow(), SYSTEM, u.user.email, password)
    finally:
        db.dispose()
    _render.demo_report(report, s)
    shown = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host
    console.print(f"\n[bold]Dashboard[/]: http://{shown}:{s.port}/app/ · sign in as any demo user above (e.g. "
                  f"{report.users[0].user.email if report.users else 'EMAIL'}) with the password [bold]{password}[/] "
                  "(new each run; or set one: billable users set-password EMAIL)", soft_wrap=True)

"""`billable events|rules|pilot|tick|worker`: the event log and its dead letters, the rules, pilot mode, the
schedule's tick and the worker. Each command calls one domain service."""

from __future__ import annotations

import csv
import re
import signal
from datetime import date
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from channels.cli._common import AS_OPTION, SYSTEM, CliError, console, guarded, open_db, reader, settings
from domain.model.periods import Cycle, period_containing
from domain.services import events, pilot, rules

events_app = typer.Typer(no_args_is_help=True, help="Inbound events: list them, show one, retry a failed one.")
rules_app = typer.Typer(no_args_is_help=True, help="The rules (YAML): show, check a file, make a file the rules.")
pilot_app = typer.Typer(no_args_is_help=True, help="Pilot mode: compare with what was actually billed; per client.")

STATUS_STYLE = {"processed": "green", "ignored": "dim", "rejected": "red", "dead": "bold red",
                "retrying": "yellow", "received": "cyan"}


@events_app.command("list")
@guarded
def list_(failed: bool = typer.Option(False, "--failed", help="Only dead-lettered events and those being retried."),
          status: str = typer.Option(None, "--status", help="received, retrying, processed, ignored, rejected, dead"),
          source: str = typer.Option(None, "--source", help="billable, hubspot, jira, toggl, harvest, schedule"),
          limit: int = typer.Option(50, "--limit"), as_email: str = AS_OPTION) -> None:
    """Events, newest first, with their status and (for failures) the reason."""
    db = open_db(settings())
    try:
        rows = events.list_events(db.uow(), reader(db, as_email), "failed" if failed else status, source, limit)
    finally:
        db.dispose()
    if not rows:
        console.print("No failed events." if failed else "No events match.")
        return
    table = Table(title="Failed events" if failed else "Events", box=box.SIMPLE_HEAVY)
    for col in ("id", "source", "event id", "type", "status", "attempts", "received", "reason / result"):
        table.add_column(col, overflow="fold")
    for e in rows:
        style = STATUS_STYLE.get(e.status, "")
        outcome = e.reason or e.last_error or "; ".join(
            str(r.get("outcome", "")) for r in e.result.get("rules", [])) or ""
        table.add_row(str(e.id), e.source, e.event_id, e.type, f"[{style}]{e.status}[/]" if style else e.status,
                      str(e.attempts), e.received_at.strftime("%Y-%m-%d %H:%M:%S"), outcome)
    console.print(table)


@events_app.command("show")
@guarded
def show(event_id: int = typer.Argument(..., help="The event's id (first column of `events list`)."),
         as_email: str = AS_OPTION) -> None:
    """One event: its data, what it did (rules, invoices) or why it failed."""
    db = open_db(settings())
    try:
        view = events.get_event(db.uow(), reader(db, as_email), event_id)
    finally:
        db.dispose()
    console.print_json(view.model_dump_json())


@events_app.command("retry")
@guarded
def retry(event_id: int = typer.Argument(..., help="A dead-lettered event's id."), as_email: str = AS_OPTION) -> None:
    """Put a failed event back in the queue; the worker (or `billable tick`) processes it."""
    db = open_db(settings())
    try:
        view = events.retry_event(db.uow(), reader(db, as_email), event_id)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Event {view.id} ({view.source}/{view.event_id}) is queued again.")


@rules_app.command("show")
@guarded
def rules_show(as_email: str = AS_OPTION) -> None:
    """The rules in force (their YAML)."""
    db = open_db(settings())
    try:
        view = rules.get_rules(db.uow(), reader(db, as_email))
    finally:
        db.dispose()
    if view.version is None:
        console.print("No rules yet: events are recorded but bill nothing. Load some with `billable rules load FILE`.")
        return
    console.print(f"[bold]Rules version {view.version}[/] (by {view.updated_by}, {view.updated_at})")
    console.print(view.text, markup=False, highlight=False)


@rules_app.command("check")
@guarded
def rules_check(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A rules YAML file.")) -> None:
    """Validate a rules file without loading it."""
    doc = rules.check_rules(path.read_text(encoding="utf-8"))
    console.print(f"[green]✓[/] {path}: {len(doc.rules)} rule(s), {len(doc.aliases)} alias(es), all valid.")


@rules_app.command("load")
@guarded
def rules_load(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A rules YAML file."),
               as_email: str = AS_OPTION) -> None:
    """Make a rules file the rules in force (validated first; the same file again changes nothing)."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email) if as_email else SYSTEM
        view = rules.put_rules(db.uow(), actor, path.read_text(encoding="utf-8"))
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Rules version {view.version}: {', '.join(r['id'] for r in view.rules) or 'none'}.")


def _period(text: str) -> tuple[date, date]:
    if not re.fullmatch(r"\d{4}-\d{2}", text):
        raise CliError(f"--period {text!r} is not a month like 2026-03")
    p = period_containing(date(int(text[:4]), int(text[5:]), 1), Cycle.MONTHLY)
    return p.start, p.end


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        # surplus fields land under the key None (a list): a quoting problem in that row, ignored here
        rows = [{k.strip().lower(): (v or "").strip() for k, v in r.items() if k is not None}
                for r in csv.DictReader(f)]
    if rows and not {"client", "amount"} <= set(rows[0]):
        raise CliError(f"{path} needs the columns client and amount (and optionally description, number, date, "
                       "currency)", "Export the old system's invoice lines as CSV with a header row.")
    return rows


@pilot_app.command("report")
@guarded
def pilot_report(period: str = typer.Option(..., "--period", help="The month, e.g. 2026-03."),
                 actual: Path = typer.Option(..., "--actual", exists=True, dir_okay=False,
                                             help="CSV of what was actually billed: client, amount (net), "
                                                  "description, number, date, currency."),
                 as_json: bool = typer.Option(False, "--json", help="Print the report as JSON only."),
                 as_email: str = AS_OPTION) -> None:
    """Compare what billable would have billed in a month with what was actually billed."""
    start, end = _period(period)
    db = open_db(settings())
    try:
        report = pilot.pilot_report(db.uow(), reader(db, as_email), start, end, _read_csv(actual))
    finally:
        db.dispose()
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    table = Table(title=f"Pilot report {start} → {end}", box=box.SIMPLE_HEAVY)
    for col in ("client", "status", "billable", "actual", "difference", "billable line", "actual line"):
        table.add_column(col, overflow="fold")
    style = {"matched": "green", "differs": "yellow", "missing_in_billable": "red", "missing_in_actual": "red"}
    for ln in report.lines:
        table.add_row(ln.client, f"[{style[ln.status]}]{ln.status.replace('_', ' ')}[/]", ln.billable_amount or "",
                      ln.actual_amount or "", ln.difference or "", ln.billable_description or "",
                      ln.actual_description or "")
    console.print(table)
    totals = Table(title="Totals per client (net)", box=box.SIMPLE)
    for col in ("client", "currency", "billable", "actual", "difference"):
        totals.add_column(col)
    for t in report.clients:
        totals.add_row(t.client, t.currency, t.billable, t.actual, t.difference)
    console.print(totals)
    console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in report.counts.items()))
    if report.unknown_clients:
        console.print(f"[yellow]Clients in the CSV billable does not know:[/] {', '.join(report.unknown_clients)}")
    console.print("JSON: add --json", style="dim")


@pilot_app.command("client")
@guarded
def pilot_client(client_id: int = typer.Argument(...), off: bool = typer.Option(False, "--off"),
                 as_email: str = AS_OPTION) -> None:
    """Put a client in pilot mode (drafted and held, never issued or sent), or take it out with --off."""
    db = open_db(settings())
    try:
        out = pilot.set_client_pilot(db.uow(), reader(db, as_email), client_id, not off)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Client {client_id} pilot mode: {'on' if out['pilot'] else 'off'}.")


@guarded
def tick(process: bool = typer.Option(True, "--process/--no-process",
                                      help="Also run the queued jobs and the outbox (off when workers run).")) -> None:
    """Find what is due and not yet billed (retainer and subscription periods, contract ends) and bill it; queue
    today's payment reminders (the workspace's dunning schedule) and, once a day, the overdue digest.

    For an external scheduler (cron, a Kubernetes CronJob); `billable serve` ticks every minute by itself.
    """
    from channels.worker import Worker

    s = settings()
    db = open_db(s)
    try:
        w = Worker.for_settings(db, s, tick_every=0)
        emitted = w.tick()
        reminded = len(w.last_tick.reminders) if w.last_tick else 0
        digest = w.last_tick.overdue_digest if w.last_tick else None
        done = w.run_until_idle() if process else 0
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Tick: {len(emitted)} due date(s) found, {reminded} reminder(s) queued"
                  + (f", the overdue digest ({digest} invoice(s))" if digest else "")
                  + (f", {done} job(s) and notification(s) handled." if process else ", queued for the workers."))


@guarded
def worker(name: str = typer.Option(None, "--name", help="A name for the logs and the jobs it did."),
           until_idle: bool = typer.Option(False, "--until-idle", help="Stop when the queue is empty."),
           batch: int = typer.Option(10, "--batch", help="Jobs per transaction."),
           tick_every: float = typer.Option(60.0, "--tick-every", help="Seconds between ticks (0: never)."),
           outbox_lease: float = typer.Option(60.0, "--outbox-lease",
                                              help="Seconds before an unconfirmed notification is resent.")) -> None:
    """Run a worker: queued events, the outbox and the minute tick. On PostgreSQL run as many as you like."""
    import logging

    from channels.worker import Worker, load_rules_file

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    s = settings()
    db = open_db(s)
    try:
        if s.rules_file:
            load_rules_file(db, s.rules_file, SYSTEM)
        w = Worker.for_settings(db, s, name=name, batch=batch, tick_every=tick_every, outbox_lease=outbox_lease)
        if until_idle:
            n = w.run_until_idle()
            console.print(f"[green]✓[/] Worker {w.name}: {n} job(s) and notification(s) handled; the queue is empty.")
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: w.stop(timeout=0))
        console.print(f"[green]✓[/] Worker {w.name} running (Ctrl+C stops it).")
        w.listen()
        w.run()
    finally:
        db.dispose()


__all__ = ["events_app", "pilot_app", "rules_app", "tick", "worker"]

"""`billable accounting drift | proposals | catch-up`: QuickBooks, inbound. The drift report (re-push ours or accept
theirs, one invoice at a time), the client updates proposed from QuickBooks (accept or refuse), and the Change
Data Capture catch-up run now (the worker runs it on its tick)."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from channels.accounting.inbound import LazyReader
from channels.accounting.inbound import reader as qbo_reader
from channels.cli._common import AS_OPTION, console, guarded, open_db, reader, settings
from domain.model.roles import Actor
from domain.services import accounting_drift, accounting_inbound


def register(app: typer.Typer) -> None:
    """Add the inbound commands to `billable accounting`."""
    proposals_app = typer.Typer(help="Client updates proposed from QuickBooks: list (the default), accept, refuse.")
    app.command("drift")(drift)
    app.command("catch-up")(catch_up)
    proposals_app.callback(invoke_without_command=True)(proposals)
    proposals_app.command("accept")(accept_proposal)
    proposals_app.command("refuse")(refuse_proposal)
    app.add_typer(proposals_app, name="proposals")


@guarded
def drift(repush: int = typer.Option(None, "--repush", help="Re-push this invoice (its id) to QuickBooks."),
          accept: int = typer.Option(None, "--accept", help="Accept QuickBooks' version of this invoice (its id), "
                                                            "where that is legal."),
          as_email: str = AS_OPTION) -> None:
    """Invoices that differ between billable and QuickBooks, with the likely cause; or act on one."""
    s = settings()
    db = open_db(s)
    try:
        actor = reader(db, as_email)
        lazy = LazyReader(db, s)
        if repush is not None or accept is not None:
            if repush is not None:
                out = accounting_drift.repush(db.uow(), actor, repush, lazy)
            else:
                out = accounting_drift.accept_theirs(db.uow(), actor, accept, lazy)
            console.print(f"[green]✓[/] {out.done} ({out.cause.value})")
            return
        report = accounting_drift.drift_report(db.uow(), actor, lazy)
    finally:
        db.dispose()
    head = (f"QuickBooks company {report.company_name or report.realm_id}: {report.checked} invoices compared"
            + (f", {report.pending_push} queued (an invoice, a void or a payment still being pushed)"
               if report.pending_push else ""))
    if not report.items:
        console.print(f"{head}; no drift: both books agree.")
        return
    table = Table(title=head, box=box.SIMPLE_HEAVY)
    for col in ("invoice", "id", "differences", "likely cause", "what to do", "actions"):
        table.add_column(col, overflow="fold")
    for it in report.items:
        diffs = "; ".join(f"{d.field}: ours {d.ours}, theirs {d.theirs}" for d in it.differences)
        table.add_row(it.number, str(it.invoice_id), diffs, it.cause.value.replace("_", " "), it.explanation,
                      ", ".join(f"--{a.value} {it.invoice_id}" for a in it.actions))
    console.print(table)


@guarded
def catch_up(as_email: str = AS_OPTION) -> None:
    """Read what changed in QuickBooks since the last cursor (payments, customers) now, and queue it."""
    s = settings()
    db = open_db(s)
    try:
        actor = reader(db, as_email)
        realms = accounting_inbound.connected_realms(db.uow())
        if not realms:
            console.print("QuickBooks is not connected: nothing to catch up.")
            return
        rep = accounting_inbound.catch_up(db.uow(), actor, realms[0], qbo_reader(db, s))
        from channels.worker import Worker

        Worker.for_settings(db, s, tick_every=0).run_until_idle()
    finally:
        db.dispose()
    console.print(f"[green]✓[/] {rep.objects} changes read since {rep.changed_since:%Y-%m-%d %H:%M} UTC, {rep.queued} "
                  f"new; next time from {rep.next_since:%Y-%m-%d %H:%M} UTC"
                  + (" (the last catch-up was more than 30 days ago: older changes were missed)" if rep.gap else ""))


def _proposals_table(rows: list[accounting_inbound.ProposalView]) -> Table:
    table = Table(title="Client updates proposed from QuickBooks", box=box.SIMPLE_HEAVY)
    for col in ("id", "client", "changes", "status", "proposed"):
        table.add_column(col, overflow="fold")
    for p in rows:
        changes = "; ".join(f"{f}: {c['ours'] or '(empty)'} -> {c['theirs']}" for f, c in p.changes.items())
        table.add_row(str(p.id), f"{p.client_name} ({p.client_id})", changes,
                      p.status + (f" ({p.note})" if p.note else ""), f"{p.created_at:%Y-%m-%d %H:%M}")
    return table


@guarded
def proposals(ctx: typer.Context,
              status: str = typer.Option("pending", "--status", help="pending, accepted, refused, superseded, all."),
              as_email: str = AS_OPTION) -> None:
    """Client updates proposed from QuickBooks (pending ones unless --status says otherwise)."""
    if ctx.invoked_subcommand is not None:
        return
    db = open_db(settings())
    try:
        rows = accounting_inbound.list_proposals(db.uow(), reader(db, as_email), status)
    finally:
        db.dispose()
    if not rows:
        console.print("No client updates proposed from QuickBooks." if status == "pending" else "None match.")
        return
    console.print(_proposals_table(rows))


def _decide(as_email: str | None, fn: str, proposal_id: int, *args: str) -> accounting_inbound.ProposalView:
    db = open_db(settings())
    try:
        actor: Actor = reader(db, as_email)
        return getattr(accounting_inbound, fn)(db.uow(), actor, proposal_id, *args)  # type: ignore[no-any-return]
    finally:
        db.dispose()


@guarded
def accept_proposal(proposal_id: int = typer.Argument(..., help="The proposal's id (first column of the list)."),
                    as_email: str = AS_OPTION) -> None:
    """Accept: the client takes what QuickBooks says (audited)."""
    view = _decide(as_email, "accept_proposal", proposal_id)
    console.print(f"[green]✓[/] {view.client_name} updated from QuickBooks: {', '.join(view.changes)}")


@guarded
def refuse_proposal(proposal_id: int = typer.Argument(..., help="The proposal's id."),
                    reason: str = typer.Option("", "--reason", help="Why ours stays."),
                    as_email: str = AS_OPTION) -> None:
    """Refuse: the client stays as it is here."""
    view = _decide(as_email, "refuse_proposal", proposal_id, reason)
    console.print(f"[green]✓[/] Proposal {view.id} refused: {view.client_name} stays as it is")

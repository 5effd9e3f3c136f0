"""`billable payments parked [apply|dismiss]`: payments that matched no open invoice as named, waiting for a
finance person or an owner (--as) to apply them to an invoice they choose or to dismiss them."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from channels.cli._common import AS_OPTION, console, guarded, open_db, reader, settings
from domain.services import payments_parked
from domain.services.payments_parked import ParkedPaymentView

app = typer.Typer(no_args_is_help=True, help="Payments: those parked because they matched no open invoice.")
parked_app = typer.Typer(help="Parked payments: list them (the default), apply one to an invoice, dismiss one.")
app.add_typer(parked_app, name="parked")


def _table(rows: list[ParkedPaymentView], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY)
    for col in ("id", "received", "amount", "left", "payer", "reference", "named", "reason", "status"):
        table.add_column(col, overflow="fold")
    for p in rows:
        table.add_row(str(p.id), p.received_on.isoformat(), f"{p.amount} {p.currency or '?'}", p.remaining,
                      p.payer, p.reference, p.invoice_number, f"{p.reason}: {p.detail}",
                      p.status + (f" ({p.dismiss_reason})" if p.dismiss_reason else ""))
    return table


@parked_app.callback(invoke_without_command=True)
@guarded
def parked(ctx: typer.Context,
           status: str = typer.Option("parked", "--status", help="parked (waiting), applied, dismissed, or all."),
           limit: int = typer.Option(100, "--limit"), as_email: str = AS_OPTION) -> None:
    """Parked payments, newest first (those waiting for a person unless --status says otherwise)."""
    if ctx.invoked_subcommand is not None:
        return
    db = open_db(settings())
    try:
        rows = payments_parked.list_parked(db.uow(), reader(db, as_email), status, limit)
    finally:
        db.dispose()
    if not rows:
        console.print("No parked payments." if status == "parked" else "No parked payments match.")
        return
    console.print(_table(rows, "Parked payments"))


@parked_app.command("apply")
@guarded
def apply(parked_id: int = typer.Argument(..., help="The parked payment's id (first column of the list)."),
          invoice: int = typer.Option(..., "--invoice", help="The id of the invoice it pays, your choice."),
          amount: str = typer.Option(None, "--amount", help="Only this much of it (default: all that is left)."),
          as_email: str = AS_OPTION) -> None:
    """Apply a parked payment (or a part) to an invoice: recorded as a payment on it, audited."""
    db = open_db(settings())
    try:
        view = payments_parked.apply_parked(db.uow(), reader(db, as_email), parked_id, invoice, amount)
    finally:
        db.dispose()
    last = view.applications[-1]
    console.print(f"[green]✓[/] Applied {last['amount']} to invoice {last['number']} (id {last['invoice_id']}); "
                  + ("nothing is left parked." if view.status == "applied" else f"{view.remaining} still parked."))


@parked_app.command("dismiss")
@guarded
def dismiss(parked_id: int = typer.Argument(..., help="The parked payment's id."),
            reason: str = typer.Option(..., "--reason", help="Why (refunded, booked elsewhere, duplicate...)."),
            as_email: str = AS_OPTION) -> None:
    """Dismiss a parked payment with a reason; nothing is paid."""
    db = open_db(settings())
    try:
        view = payments_parked.dismiss_parked(db.uow(), reader(db, as_email), parked_id, reason)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Parked payment {view.id} dismissed: {view.dismiss_reason}")

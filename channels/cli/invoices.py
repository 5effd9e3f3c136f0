"""`billable invoices ...`: the invoices, as the person named by --as (default: the first owner) may see them."""

from __future__ import annotations

import typer

from channels.cli import _render
from channels.cli._common import AS_OPTION, console, guarded, open_db, reader, settings
from domain.services import invoicing

app = typer.Typer(no_args_is_help=True, help="List invoices and show one with its lines, checks and totals.")


@app.command("list")
@guarded
def list_(client: int = typer.Option(None, "--client", help="Only this client's invoices (client id)."),
          status: str = typer.Option(None, "--status", help="draft, pending_approval, issued, partially_paid, "
                                                            "paid, void, ..."),
          overdue: bool = typer.Option(False, "--overdue", help="Only overdue invoices."),
          limit: int = typer.Option(100, "--limit", help="At most this many, newest first."),
          as_email: str = AS_OPTION) -> None:
    """Invoices and credit notes, newest first."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        rows = invoicing.list_invoices(db.uow(), actor, client_id=client, status=status,
                                       overdue=True if overdue else None, limit=limit)
    finally:
        db.dispose()
    if not rows:
        console.print("No invoices match." + ("" if (client or status or overdue) else
                                              " Load the demo with `billable demo`, or draft one through the API."))
        return
    console.print(_render.invoice_table(rows))


@app.command("show")
@guarded
def show(invoice: str = typer.Argument(..., help="Invoice id (e.g. 12) or number (e.g. INV-2026-000001)."),
         as_email: str = AS_OPTION) -> None:
    """One invoice: lines with their sources, the checks, tax per rate, totals, payments and balance."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        view = (invoicing.get_invoice(db.uow(), actor, int(invoice)) if invoice.isdigit()
                else invoicing.find_invoice(db.uow(), actor, invoice.strip()))
    finally:
        db.dispose()
    _render.invoice_detail(view)

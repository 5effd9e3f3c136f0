"""`billable invoices ...`: the invoices, as the person named by --as (default: the first owner) may see them."""

from __future__ import annotations

from pathlib import Path

import typer

from channels.cli import _render
from channels.cli._common import AS_OPTION, CliError, console, guarded, open_db, reader, settings
from channels.documents import TemplateRefused, default_renderer
from channels.documents.einvoice import build
from domain.services import delivery, documents, einvoice, invoicing, snapshots

app = typer.Typer(no_args_is_help=True, help="List invoices, show one with its lines, checks and totals, preview "
                                             "its document, e-mail it.")


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


@app.command("preview")
@guarded
def preview(invoice: str = typer.Argument(..., help="Invoice id (e.g. 12) or number (e.g. INV-2026-000001)."),
            pdf: str = typer.Option(None, "--pdf", help="Write the PDF to this file."),
            html: str = typer.Option(None, "--html", help="Write the HTML to this file."),
            as_email: str = AS_OPTION) -> None:
    """Render an invoice or credit note as its client will see it (HTML and/or PDF)."""
    try:
        renderer = default_renderer(settings())  # a broken template is refused here, before anything is read
    except TemplateRefused as e:
        raise CliError(f"template refused: {e}") from e
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        invoice_id = int(invoice) if invoice.isdigit() else invoicing.find_invoice(db.uow(), actor, invoice.strip()).id
        doc = documents.invoice_document(db.uow(), actor, invoice_id)
    finally:
        db.dispose()
    body = renderer.html(doc)
    if html:
        Path(html).write_text(body, encoding="utf-8")
        console.print(f"HTML written to {html}")
    if pdf:
        Path(pdf).write_bytes(renderer.pdf(doc))
        console.print(f"PDF written to {pdf}")
    if not (pdf or html):
        console.print(body, markup=False, highlight=False)


@app.command("export")
@guarded
def export(invoice: str = typer.Argument(..., help="Invoice id (e.g. 12) or number (e.g. INV-2026-000001)."),
           fmt: str = typer.Option(None, "--format", help="facturx, xrechnung-cii, xrechnung-ubl or peppol "
                                                         "(default: the client's e-invoice format)."),
           out: str = typer.Option(None, "--out", "-o", help="Write it here (default: its own name in the "
                                                           "current folder)."),
           as_email: str = AS_OPTION) -> None:
    """Write an issued invoice's or credit note's e-invoice: a Factur-X PDF or an XRechnung / Peppol XML."""
    try:
        renderer = default_renderer(settings())
    except TemplateRefused as e:
        raise CliError(f"template refused: {e}") from e
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        invoice_id = int(invoice) if invoice.isdigit() else invoicing.find_invoice(db.uow(), actor, invoice.strip()).id
        source = einvoice.einvoice_source(db.uow(), actor, invoice_id, fmt)
    finally:
        db.dispose()
    f = build(source, renderer)
    path = Path(out or f.filename)
    path.write_bytes(f.content)
    console.print(f"[green]✓[/] {f.label} written to {path} ({len(f.content):,} bytes)", soft_wrap=True)


@app.command("send")
@guarded
def send(invoice: str = typer.Argument(..., help="Invoice id (e.g. 12) or number (e.g. INV-2026-000001)."),
         to: list[str] = typer.Option(None, "--to", help="Send here instead of the client's billing e-mails "
                                                         "(repeat for several)."),
         as_email: str = AS_OPTION) -> None:
    """E-mail an issued invoice (PDF attached, link to its page): queued now, sent by the worker's outbox."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        invoice_id = int(invoice) if invoice.isdigit() else invoicing.find_invoice(db.uow(), actor, invoice.strip()).id
        d = delivery.send_invoice(db.uow(), actor, invoice_id, list(to) if to else None)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Invoice {invoice} queued for e-mail to {', '.join(d.recipients)} "
                  f"(Message-ID {d.message_id}); the worker sends it (`billable serve`, `billable worker` or "
                  "`billable tick`). Follow it: GET /v1/invoices/{id}/delivery.".replace("{id}", str(invoice_id)),
                  soft_wrap=True)


@app.command("revoke-link")
@guarded
def revoke_link(invoice: str = typer.Argument(..., help="Invoice id (e.g. 12) or number (e.g. INV-2026-000001)."),
                as_email: str = AS_OPTION) -> None:
    """End an invoice's hosted-page link (owners and finance): whoever has the old link sees nothing from now on;
    the next link handed out (or e-mailed) is a new one."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        invoice_id = int(invoice) if invoice.isdigit() else invoicing.find_invoice(db.uow(), actor, invoice.strip()).id
        documents.revoke_hosted_link(db.uow(), actor, invoice_id)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] The hosted link of invoice {invoice} is revoked; its old link answers 404.")


@app.command("backfill-snapshots")
@guarded
def backfill_snapshots(as_email: str = AS_OPTION) -> None:
    """Freeze what every invoice and credit note issued before snapshots were kept says (owners), from today's
    seller and client details, audited; `billable init` does it too. Safe to run again."""
    db = open_db(settings())
    try:
        report = snapshots.backfill_snapshots(db.uow(), reader(db, as_email))
    finally:
        db.dispose()
    if not report.frozen:
        console.print("[green]✓[/] Every issued invoice and credit note already keeps what it says.")
        return
    console.print(f"[green]✓[/] Froze {report.frozen} invoice(s) and credit note(s): {', '.join(report.numbers)}. "
                  "From now on their documents, e-invoices and exports no longer change with the client or the "
                  "workspace; each is audited as invoice.snapshot_backfilled.", soft_wrap=True)

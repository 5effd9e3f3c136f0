"""`billable accounting`: connect QuickBooks Online (owners), see the sync's state and what waits, push now, retry
refused work, disconnect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import typer

from channels.accounting import connection as conn
from channels.cli._common import AS_OPTION, CliError, console, guarded, open_db, reader, settings
from domain.services import accounting

app = typer.Typer(no_args_is_help=True, help="Accounting sync: QuickBooks Online.")


@app.command("connect")
@guarded
def connect(redirected: str = typer.Option(None, "--redirected", help="The address your browser came back to "
                                                                      "after choosing the company (else asked)."),
            as_email: str = AS_OPTION) -> None:
    """Connect a QuickBooks Online company (owners): open the printed address, pick the company, and paste the
    address your browser lands on (when `billable serve` runs there, the dashboard finishes the connect itself)."""
    s = settings()
    db = open_db(s)
    try:
        actor = reader(db, as_email)
        url = conn.start_connect(db, s, actor)
        if not redirected:
            console.print("Open this address, sign in to Intuit and choose the company:")
            console.print(url, soft_wrap=True, markup=False)
            redirected = typer.prompt("Then paste the address your browser came back to")
        q = {k: v[0] for k, v in parse_qs(urlsplit(redirected.strip()).query).items()}
        if "error" in q:
            raise CliError(f"Intuit said {q['error']}: nothing was connected", "Run billable accounting connect again")
        view = conn.finish_connect(db, s, actor, q.get("code", ""), q.get("state", ""), q.get("realmId", ""))
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Connected to {view.company_name or 'QuickBooks'} (realm {view.realm_id}). The "
                  "worker pushes the issued invoices QuickBooks lacks, then every change as it happens.")


@app.command("status")
@guarded
def status(queue: bool = typer.Option(False, "--queue", help="Also list the newest queued work."),
           as_email: str = AS_OPTION) -> None:
    """The connection (company, realm, connected/paused/disconnected and why) and what waits to be pushed."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        view = accounting.connection_status(db.uow(), actor)
        items = accounting.sync_queue(db.uow(), actor, limit=20) if queue else []
    finally:
        db.dispose()
    colour = {"connected": "green", "paused": "yellow", "disconnected": "dim"}[view.status]
    console.print(f"QuickBooks: [{colour}]{view.status}[/]" + (f" to {view.company_name} (realm {view.realm_id})"
                                                                if view.realm_id else ""))
    if view.status == "paused":
        console.print(f"[yellow]paused[/]: {view.paused_reason}", soft_wrap=True)
    console.print(f"pushed: {view.pushed} invoices and credit notes; waiting: {view.pending}; refused: {view.dead}")
    for it in items:
        console.print(f"  #{it.id} {it.topic} {it.subject} {it.ref_id}: {it.status}"
                      + (f" ({it.last_error[:120]})" if it.last_error else ""), soft_wrap=True)


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise CliError(f"{item!r} is not KEY=VALUE", f"Write it as {option} KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


@app.command("items")
@guarded
def items(set_: list[str] = typer.Option([], "--set", help="KIND=ITEM NAME, e.g. retainer=Managed services "
                                                            "(repeat)."),
          as_email: str = AS_OPTION) -> None:
    """The QuickBooks item each arrangement kind's lines map to; --set changes one (created there on first use)."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        for kind, name in _pairs(set_, "--set").items():
            accounting.set_item(db.uow(), actor, {"arrangement_kind": kind, "item_name": name})
        current = accounting.list_items(db.uow(), actor)
    finally:
        db.dispose()
    for kind, name in current.items():
        console.print(f"{kind}: {name}")


@app.command("tax-codes")
@guarded
def tax_codes(set_: list[str] = typer.Option([], "--set", help="TREATMENT=CODE: standard, zero, exempt, "
                                                                "reverse_charge, or standard:RATE (e.g. "
                                                                "standard:19=7)."),
              as_email: str = AS_OPTION) -> None:
    """The QuickBooks TaxCode per tax treatment (default TAX / NON); --set replaces the map with the pairs given."""
    from domain.model.accounting import DEFAULT_TAX_CODES

    s = settings()
    db = open_db(s)
    try:
        actor = reader(db, as_email)
        if set_:
            current = accounting.set_tax_codes(db.uow(), actor, _pairs(set_, "--set"))
        else:
            sec = accounting.connection_secrets(db.uow(), actor)
            current = {**DEFAULT_TAX_CODES, **(sec.tax_codes if sec else {})}
    finally:
        db.dispose()
    for key, code in current.items():
        console.print(f"{key}: {code}")


@app.command("sync")
@guarded
def sync(as_email: str = AS_OPTION) -> None:
    """Push what waits now (the worker does this on its own; useful after reconnecting or fixing a mapping)."""
    from channels.accounting.sync import QuickBooksSync

    s = settings()
    db = open_db(s)
    try:
        accounting.may_connect(reader(db, as_email))
        pusher = QuickBooksSync(db, s, name="cli")
        try:
            done = pusher.run_until_idle()
        finally:
            pusher.close()
        view = accounting.connection_status(db.uow(), reader(db, as_email))
    finally:
        db.dispose()
    console.print(f"[green]✓[/] {done} pushed; waiting: {view.pending}; refused: {view.dead} ({view.status})")


@app.command("retry")
@guarded
def retry(as_email: str = AS_OPTION) -> None:
    """Put refused work back in the queue (after fixing its cause: a tax code, an item, a name)."""
    db = open_db(settings())
    try:
        n = accounting.retry_dead(db.uow(), reader(db, as_email))
    finally:
        db.dispose()
    console.print(f"[green]✓[/] {n} task(s) queued again.")


@app.command("disconnect")
@guarded
def disconnect(as_email: str = AS_OPTION) -> None:
    """Stop syncing, revoke the grant at Intuit and forget the tokens (owners)."""
    s = settings()
    db = open_db(s)
    try:
        view = conn.disconnect(db, s, reader(db, as_email))
    finally:
        db.dispose()
    console.print(f"[green]✓[/] QuickBooks is {view.status}.")

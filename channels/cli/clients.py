"""`billable clients ...` (the group of channels.cli.parties): archive and reactivate clients, show every version
of their arrangements' terms; amend, end and reopen arrangements (each answers with what the next invoice will
contain because of the change); proposals waiting for finance; cancel a milestone. Every command is one service
call, as the person named by --as."""

from __future__ import annotations

import json
from typing import Any

import typer

from channels.cli._common import AS_OPTION, CliError, console, guarded, open_db, reader, settings
from channels.cli.parties import clients_app as app  # one `billable clients` group: details there, contracts here
from domain.services import clients, contracts

SET_HELP = ("A term that changes, as FIELD=VALUE (repeat it): seats=52, fee=800.00, cycle=quarterly, "
            "role_rates.Engineer=120.00 (a rate by name; =null removes it), tiers='[{\"rate\": \"90.00\"}]'.")


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """FIELD=VALUE pairs as terms; JSON only for objects, lists, true/false/null (numbers stay text: money is
    never a float)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--set {pair!r} is not FIELD=VALUE", SET_HELP)
        value: Any = raw
        if raw in ("true", "false", "null") or raw[:1] in ("{", "["):
            try:
                value = json.loads(raw)
            except ValueError:
                raise CliError(f"--set {key}: {raw!r} is not valid JSON", SET_HELP) from None
        name, dot, sub = key.strip().partition(".")
        if dot:
            out.setdefault(name, {})[sub] = value
        else:
            out[name] = value
    return out


def _preview(result: contracts.ChangeResult) -> None:
    p = result.preview
    if result.version is not None:
        v = result.version
        state = "[yellow]proposed: waits for finance[/]" if v.status == "proposed" else f"[green]{v.status}[/]"
        console.print(f"Version {v.number} from {v.effective_on} ({state}): "
                      + (", ".join(f"{k} {b} → {a}" for k, (b, a) in v.changes.items()) or "no term changes"))
    if p.adjustments:
        console.print("Invoiced periods this changes (the invoices stay as they are):")
        for a in p.adjustments:
            where = ("on the next invoice" if a.disposition == "next_invoice"
                     else f"as a credit note against invoice {a.invoice_id}")
            console.print(f"  {a.description}: {a.amount} {a.currency} {where}")
    if p.next_period:
        console.print(f"Next period {p.next_period}:")
        for ln in p.next_lines:
            console.print(f"  {ln.description}: {ln.amount} {p.currency}")
    if p.note:
        console.print(p.note)


@app.command()
@guarded
def versions(client_id: int = typer.Argument(...), as_email: str = AS_OPTION) -> None:
    """A client with its arrangements and every version of their terms."""
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        c = clients.get_client(db.uow(), actor, client_id)
        arrangements = clients.list_arrangements(db.uow(), actor, client_id)
        versions = {a.id: contracts.list_versions(db.uow(), actor, client_id, a.id)
                    for a in arrangements if a.kind != "milestone"}
    finally:
        db.dispose()
    console.print(f"[bold]{c.name}[/] (id {c.id}, {c.currency})" + (" [dim]archived[/]" if c.archived_at else ""))
    for a in arrangements:
        span = f"{a.starts_on or '…'} to {a.ends_on or 'open'}"
        console.print(f"\n[bold]{a.name}[/] — {a.kind.replace('_', ' ')}, arrangement {a.id}, {span}"
                      + ("" if a.active else " [dim]closed[/]"))
        for m in a.milestones:
            state = (f"cancelled ({m.cancel_reason})" if m.cancelled_on else
                     f"billed on {m.invoice_id}" if m.invoice_id else
                     f"completed {m.completed_on}" if m.completed_on else "open")
            console.print(f"  milestone {m.id}: {m.name} {m.amount} {m.currency} — {state}")
        if a.id in versions:
            for v in versions[a.id].versions:
                what = ", ".join(f"{k} {b} → {x}" for k, (b, x) in v.changes.items()) or "original terms"
                console.print(f"  v{v.number} from {v.effective_on} ({v.status}): {what}")
            for adj in versions[a.id].adjustments:
                console.print(f"  adjustment {adj.amount} {adj.currency} ({adj.disposition}): {adj.description}")


@app.command()
@guarded
def archive(client_id: int = typer.Argument(...), reason: str = typer.Option("", "--reason"),
            as_email: str = AS_OPTION) -> None:
    """Archive a client: no new drafts, no rules; its open invoices still take payments and reminders."""
    db = open_db(settings())
    try:
        view = clients.archive_client(db.uow(), reader(db, as_email), client_id, reason)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] {view.name} archived.")


@app.command()
@guarded
def reactivate(client_id: int = typer.Argument(...), as_email: str = AS_OPTION) -> None:
    """Bring an archived client back."""
    db = open_db(settings())
    try:
        view = clients.reactivate_client(db.uow(), reader(db, as_email), client_id)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] {view.name} is active again.")


@app.command()
@guarded
def amend(client_id: int = typer.Argument(...), arrangement_id: int = typer.Argument(...),
          effective: str = typer.Option(..., "--from", help="The day the new terms take effect (YYYY-MM-DD)."),
          sets: list[str] = typer.Option(..., "--set", help=SET_HELP),
          reason: str = typer.Option("", "--reason"), as_email: str = AS_OPTION) -> None:
    """Change terms from a date (an account manager's change waits for finance), with its preview."""
    db = open_db(settings())
    try:
        result = contracts.amend_arrangement(db.uow(), reader(db, as_email), client_id, arrangement_id, {
            "effective_on": effective, "terms": parse_sets(sets), "reason": reason})
    finally:
        db.dispose()
    _preview(result)


@app.command()
@guarded
def end(client_id: int = typer.Argument(...), arrangement_id: int = typer.Argument(...),
        on: str = typer.Option(..., "--on", help="The last day it bills (YYYY-MM-DD)."),
        reason: str = typer.Option("", "--reason"), as_email: str = AS_OPTION) -> None:
    """End an arrangement on a date: the last period prorated, work up to it billed, nothing after."""
    db = open_db(settings())
    try:
        result = contracts.end_arrangement(db.uow(), reader(db, as_email), client_id, arrangement_id,
                                           {"ends_on": on, "reason": reason})
    finally:
        db.dispose()
    console.print(f"[green]✓[/] {result.arrangement.name} ends on {result.arrangement.ends_on}.")
    _preview(result)


@app.command()
@guarded
def reopen(client_id: int = typer.Argument(...), arrangement_id: int = typer.Argument(...),
           on: str = typer.Option(..., "--from", help="The day it bills again (YYYY-MM-DD)."),
           sets: list[str] = typer.Option(None, "--set", help=SET_HELP),
           reason: str = typer.Option("", "--reason"), as_email: str = AS_OPTION) -> None:
    """Reopen an ended arrangement from a date, with its last terms or changed ones."""
    db = open_db(settings())
    try:
        result = contracts.reopen_arrangement(db.uow(), reader(db, as_email), client_id, arrangement_id, {
            "reopens_on": on, "terms": parse_sets(sets or []), "reason": reason})
    finally:
        db.dispose()
    _preview(result)


@app.command()
@guarded
def proposals(as_email: str = AS_OPTION) -> None:
    """Amendments proposed by account managers, waiting for finance."""
    db = open_db(settings())
    try:
        rows = contracts.list_proposals(db.uow(), reader(db, as_email))
    finally:
        db.dispose()
    if not rows:
        console.print("No amendments wait for a decision.")
    for v in rows:
        console.print(f"{v.id}: arrangement {v.arrangement_id} from {v.effective_on} by {v.created_by}: "
                      + ", ".join(f"{k} {b} → {a}" for k, (b, a) in v.changes.items()))


@app.command()
@guarded
def decide(version_id: int = typer.Argument(..., help="The proposal's id (billable clients proposals)."),
           approve: bool = typer.Option(..., "--approve/--reject"), note: str = typer.Option("", "--note"),
           as_email: str = AS_OPTION) -> None:
    """Approve (it takes effect) or reject (--note says why) a proposed amendment."""
    db = open_db(settings())
    try:
        result = contracts.decide_amendment(db.uow(), reader(db, as_email), version_id, approve, note)
    finally:
        db.dispose()
    _preview(result)


@app.command("cancel-milestone")
@guarded
def cancel_milestone(milestone_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                     as_email: str = AS_OPTION) -> None:
    """Cancel a milestone: it is never billed."""
    db = open_db(settings())
    try:
        view = contracts.cancel_milestone(db.uow(), reader(db, as_email), milestone_id, reason)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Milestone {view.name} cancelled on {view.cancelled_on}.")

"""Rich rendering of what the services return. No logic: views in, tables out."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from channels.cli._common import console, money, status_text
from domain.model.roles import Role
from domain.services.demo import DemoReport
from domain.services.views import InvoiceView
from domain.settings import Settings


def invoice_table(rows: list[InvoiceView], title: str = "Invoices") -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY)
    for col, kw in (("id", {"justify": "right"}), ("number", {"no_wrap": True}), ("client", {}), ("status", {}),
                    ("period", {"no_wrap": True}), ("due", {"no_wrap": True}), ("total", {"justify": "right"}),
                    ("balance", {"justify": "right"})):
        table.add_column(col, **kw)
    for i in rows:
        number = i.number or "[dim]—[/]"
        if i.kind == "credit_note":
            number += " [dim](credit note)[/]"
        period = f"{i.period_start} → {i.period_end}" if i.period_start else ""
        table.add_row(str(i.id), number, i.client_name, status_text(i.status, i.overdue), period,
                      str(i.due_date or ""), money(i.total, i.currency), money(i.balance, i.currency))
    return table


def source_text(src: dict[str, Any]) -> str:
    """A line's source, short: which arrangement and period, which time entries, milestone, expense, breach."""
    parts = []
    if "arrangement_id" in src:
        parts.append(f"arrangement {src['arrangement_id']}")
    if "period" in src:
        parts.append(f"period {src['period'].replace('..', ' → ')}")
    if "time_entry_ids" in src:
        ids = src["time_entry_ids"]
        parts.append(f"{len(ids)} time entr{'y' if len(ids) == 1 else 'ies'}"
                     + (f" ({ids[0]}…{ids[-1]})" if len(ids) > 1 else f" ({ids[0]})" if ids else ""))
    if "included_hours" in src:
        parts.append(f"{src['included_hours']} h included")
    for key, label in (("milestone_id", "milestone"), ("expense_id", "expense"), ("breach_id", "SLA breach"),
                       ("invoice_number", "corrects")):
        if key in src:
            parts.append(f"{label} {src[key]}")
    if "markup_pct" in src:
        parts.append(f"cost {src['cost']} + {src['markup_pct']}%")
    if src.get("manual"):
        parts.append(f"added by hand{' by ' + src['by'] if src.get('by') else ''}")
    return ", ".join(parts)


def invoice_detail(v: InvoiceView) -> None:
    cur = v.currency
    title = ("Credit note " if v.kind == "credit_note" else "Invoice ") + (v.number or f"draft #{v.id}")
    facts = [f"[bold]{v.client_name}[/] (client {v.client_id}) · {status_text(v.status, v.overdue)} · {cur}"]
    if v.period_start:
        facts.append(f"Period {v.period_start} → {v.period_end}")
    if v.issue_date:
        facts.append(f"Issued {v.issue_date}" + (f" · due {v.due_date}" if v.due_date else ""))
    if v.po_number:
        facts.append(f"PO {v.po_number}")
    if v.tax_note:
        facts.append(f"[italic]{v.tax_note}[/]")
    if v.reason:
        facts.append(f"Reason: {v.reason}")
    if v.corrects_invoice_id:
        facts.append(f"Corrects invoice id {v.corrects_invoice_id}")
    console.print(Panel("\n".join(facts), title=f"{title} (id {v.id})", expand=False))

    lines = Table(title="Lines", box=box.SIMPLE, show_lines=False)
    for col, kw in (("#", {"justify": "right"}), ("description", {"ratio": 3}), ("qty", {"justify": "right"}),
                    ("unit price", {"justify": "right"}), ("amount", {"justify": "right", "no_wrap": True}),
                    ("tax", {"justify": "right"}), ("source", {"ratio": 2, "style": "dim"})):
        lines.add_column(col, **kw)
    for ln in v.lines:
        lines.add_row(str(ln.position), ln.description, f"{ln.quantity} {ln.unit}", money(ln.unit_price, cur),
                      money(ln.amount, cur), f"{ln.tax_rate}%", source_text(ln.source))
    console.print(lines)

    if v.checks:
        checks = Table(title="Checks", box=box.SIMPLE)
        for col in ("check", "outcome", "reason"):
            checks.add_column(col)
        style = {"pass": "green", "flag": "yellow", "block": "bold red"}
        for check in v.checks:
            checks.add_row(check["code"], f"[{style.get(check['outcome'], '')}]{check['outcome']}[/]",
                           check["reason"])
        console.print(checks)

    tax = Table(title="Tax per rate", box=box.SIMPLE)
    for col in ("rate", "taxable", "tax"):
        tax.add_column(col, justify="right")
    for g in v.tax_by_rate:
        tax.add_row(f"{g['rate']}%", money(g["taxable"], cur), money(g["tax"], cur))

    totals = Table(box=None, show_header=False)
    totals.add_column(justify="right")
    totals.add_column(justify="right")
    for label, amount in (("Subtotal", v.subtotal), ("Tax", v.tax_total), ("Total", v.total), ("Paid", v.paid),
                          ("Credited", v.credited)):
        totals.add_row(label, money(amount, cur))
    totals.add_row("[bold]Balance[/]", f"[bold]{money(v.balance, cur)}[/]")
    console.print(Group(tax, totals))

    for p in v.payments:
        console.print(f"Payment {money(p.amount, p.currency)} received {p.received_on}"
                      + (f" ({p.reference})" if p.reference else ""), markup=False)
    for c in v.credit_notes:
        console.print(f"Credit note {c.number or c.id}: {money(c.total, cur)} ({c.reason})", markup=False)


def demo_report(report: DemoReport, s: Settings) -> None:
    base = f"http://{s.host}:{s.port}"
    if report.created:
        console.print(f"[green]✓[/] Demo workspace loaded: {len(report.clients)} clients, {report.time_entries} "
                      f"time entries, {len(report.invoices)} invoices, one user per role.")
    else:
        console.print("[green]✓[/] The demo workspace is already loaded, so nothing was added. "
                      "The demo users have fresh tokens (the old ones no longer work).")

    people = Table(title="Demo users", box=box.SIMPLE_HEAVY)
    people.add_column("e-mail", overflow="fold")
    people.add_column("role")
    people.add_column("token", no_wrap=True, min_width=max((len(u.token) for u in report.users), default=10))
    for u in report.users:
        people.add_row(u.user.email, u.user.role, u.token)
    console.print(people)

    if report.invoices:
        console.print(invoice_table(report.invoices, title="Demo invoices"))

    owner = next((u.token for u in report.users if u.user.role == Role.OWNER.value), "")
    finance = next((u.token for u in report.users if u.user.role == Role.FINANCE.value), "")
    pending = next((i for i in report.invoices if i.status == "pending_approval"), None)
    shown = next((i for i in report.invoices if i.status == "partially_paid"),
                 report.invoices[0] if report.invoices else None)
    console.print("\n[bold]What to try[/] (with `make run` or `billable serve` running):")
    out = [f"export OWNER_TOKEN={owner}", f"export FINANCE_TOKEN={finance}",
           f'curl -s "{base}/v1/invoices?overdue=true" -H "Authorization: Bearer $OWNER_TOKEN"']
    if shown is not None:
        out.append(f'curl -s {base}/v1/invoices/{shown.id} -H "Authorization: Bearer $OWNER_TOKEN"')
    if pending is not None:
        out.append(f'curl -s -X POST {base}/v1/invoices/{pending.id}/approve -H "Authorization: Bearer '
                   f'$FINANCE_TOKEN" -H "Content-Type: application/json" -d \'{{"note": "looks right"}}\'')
    out.append(f'curl -s {base}/v1/audit/verify -H "Authorization: Bearer $OWNER_TOKEN"')
    for line in out:
        console.print("  " + line, markup=False, soft_wrap=True)
    console.print(f"  Open {base}/docs to try every endpoint (Authorize with a token above).", markup=False,
                  soft_wrap=True)
    console.print("  In the terminal: billable invoices list --overdue · billable invoices show "
                  f"{shown.number if shown and shown.number else 'ID'} · billable audit verify", markup=False,
                  soft_wrap=True)

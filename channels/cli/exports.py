"""`billable export datev`: a month of invoices and credit notes for the tax adviser, as DATEV's Buchungsstapel;
`billable export datev-settings`: the consultant and client numbers and the account map it uses."""

from __future__ import annotations

from pathlib import Path

import typer

from channels.cli._common import AS_OPTION, CliError, console, guarded, open_db, reader, settings
from domain.services import exports

app = typer.Typer(no_args_is_help=True, help="Exports for the accountant (DATEV).")


def _rates(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        cur, sep, rate = item.partition("=")
        if not sep:
            raise CliError(f"{item!r} is not a rate", "Write it as CUR=units-per-EUR, e.g. --rate GBP=0.8612")
        out[cur.strip().upper()] = rate.strip()
    return out


@app.command("datev")
@guarded
def datev(month: str = typer.Option(..., "--month", help="The month to export, YYYY-MM (e.g. 2026-03)."),
          out: Path = typer.Option(None, "--out", help="Where to write it (default: EXTF_Buchungsstapel_MONTH.csv "
                                                        "in this folder)."),
          rate: list[str] = typer.Option([], "--rate", help="For documents not in EUR: CUR=units per 1 EUR, e.g. "
                                                           "GBP=0.8612 (repeat per currency)."),
          as_email: str = AS_OPTION) -> None:
    """Write the month's invoices, credit notes and voids as an EXTF Buchungsstapel (Windows-1252 CSV)."""
    db = open_db(settings())
    try:
        result = exports.export_datev(db.uow(), reader(db, as_email), month, _rates(rate))
    finally:
        db.dispose()
    path = out or Path(result.filename)
    path.write_bytes(result.content)
    console.print(f"[green]✓[/] {path}: {result.bookings} bookings from {result.documents} documents of {month}.")
    for account, by_cur in sorted(result.totals.items()):
        console.print(f"  debtor {account}: " + ", ".join(f"{v} {c}" for c, v in sorted(by_cur.items())))
    console.print("Import it in DATEV Rechnungswesen (Stapelverarbeitung > ASCII-Daten) or hand it to your adviser.")


@app.command("datev-settings")
@guarded
def datev_settings(consultant: int = typer.Option(None, "--consultant", help="Beraternummer."),
                   client: int = typer.Option(None, "--client", help="Mandantennummer."),
                   chart: str = typer.Option(None, "--chart", help="SKR03 or SKR04."),
                   account_length: int = typer.Option(None, "--account-length", help="Digits of ledger accounts."),
                   fiscal_year_start_month: int = typer.Option(None, "--fiscal-year-start-month"),
                   revenue: list[str] = typer.Option([], "--revenue", help="KIND=ACCOUNT, e.g. standard_19=8400."),
                   debtor: list[str] = typer.Option([], "--debtor", help="CLIENT_ID=ACCOUNT, e.g. 1=10001."),
                   as_email: str = AS_OPTION) -> None:
    """Show the DATEV settings, or change those given."""
    changes: dict[str, object] = {k: v for k, v in {
        "consultant_number": consultant, "client_number": client, "chart": chart,
        "account_length": account_length, "fiscal_year_start_month": fiscal_year_start_month}.items()
        if v is not None}
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        current = exports.get_datev_settings(db.uow(), actor)
        if revenue:
            changes["revenue_accounts"] = {**current.revenue_accounts, **_pairs(revenue, "--revenue")}
        if debtor:
            changes["debtor_accounts"] = {**current.debtor_accounts, **_pairs(debtor, "--debtor")}
        view = exports.update_datev_settings(db.uow(), actor, changes) if changes else current
    finally:
        db.dispose()
    for key, value in view.model_dump(mode="json").items():
        console.print(f"{key}: {value}")


def _pairs(items: list[str], option: str) -> dict[str, int]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise CliError(f"{item!r} is not KEY=ACCOUNT", f"Write it as {option} standard_19=8400")
        out[key.strip()] = int(value)
    return out

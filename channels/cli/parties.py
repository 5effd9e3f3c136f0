"""`billable settings seller` and `billable clients ...`: the parties an invoice names. The seller's details
(owners) and a client's buyer details (owners and finance): address, VAT ID, tax number, registration, bank
account, e-invoice address and format, language. Every identifier is checked by its check digits."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from rich import box
from rich.table import Table

from channels.cli._common import AS_OPTION, console, guarded, open_db, reader, settings
from domain.model.parties import Buyer, Seller
from domain.services import clients, parties
from domain.services.views import ClientView

settings_app = typer.Typer(no_args_is_help=True, help="Workspace settings: the seller's details.")
clients_app = typer.Typer(no_args_is_help=True, help="Clients: list, show, create, and change their buyer details.")

_ADDRESS_HELP = "Postal address"


_FORMAT_HELP = "E-invoice format: none, facturx, xrechnung-cii, xrechnung-ubl or peppol."
F = TypeVar("F", bound=Callable[..., Any])


def _opt(help_text: str) -> Any:
    return typer.Option(None, help=help_text)


# The options several commands share, each a string defaulting to None (not given); `_grouped` adds them.
_ADDRESS_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("street", _opt(_ADDRESS_HELP + ": street and number.")), ("additional", _opt(_ADDRESS_HELP + ": a second line.")),
    ("postcode", _opt(_ADDRESS_HELP + ": postcode.")), ("city", _opt(_ADDRESS_HELP + ": city.")),
    ("region", _opt(_ADDRESS_HELP + ": state or county, where used.")),
    ("country", _opt("ISO 3166-1 alpha-2 country code, e.g. DE or NL.")))
_BUYER_OPTIONS: tuple[tuple[str, Any], ...] = (
    *_ADDRESS_OPTIONS, ("vat_id", _opt("VAT ID with its country prefix, e.g. NL123456782B01.")),
    ("buyer_reference", _opt("Buyer reference (BT-10), e.g. a Leitweg-ID.")),
    ("eas_scheme", _opt("E-invoice address: Peppol EAS code, e.g. 9944 (Dutch VAT ID).")),
    ("eas_id", _opt("E-invoice address: the identifier in that scheme.")),
    ("einvoice_format", typer.Option(None, "--format", help=_FORMAT_HELP)),
    ("language", _opt("Document language: en, de, nl or fr (a new client's default: its locale's).")))


def _grouped(into: str, options: Sequence[tuple[str, Any]], fold: Callable[..., Any]) -> Callable[[F], F]:
    """Put `options` in a command's signature where its keyword-only parameter `into` stands; the command gets
    `into=fold(**their values)`. One list of options and help texts, however many commands take them."""

    def decorate(command: F) -> F:
        sig = inspect.signature(command, eval_str=True)
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=str)
                 for name, opt in options]
        params = [q for p in sig.parameters.values() for q in (added if p.name == into else [p])]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name, _ in options}
            return command(*args, **{into: fold(**values)}, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]  # what Typer reads
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper  # type: ignore[return-value]

    return decorate


def _address(street: str | None, additional: str | None, postcode: str | None, city: str | None,
             region: str | None, country: str | None) -> dict[str, str]:
    parts = {"street": street, "additional": additional, "postcode": postcode, "city": city, "region": region,
             "country": country}
    return {k: v for k, v in parts.items() if v is not None}


def _eaddress(scheme: str | None, identifier: str | None) -> dict[str, str]:
    return {k: v for k, v in (("scheme", scheme), ("identifier", identifier)) if v is not None}


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != {}:
        out[key] = value


def _buyer_changes(street: str | None, additional: str | None, postcode: str | None, city: str | None,
                   region: str | None, country: str | None, vat_id: str | None, buyer_reference: str | None,
                   eas_scheme: str | None, eas_id: str | None, einvoice_format: str | None,
                   language: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "address", _address(street, additional, postcode, city, region, country))
    _put(out, "vat_id", vat_id)
    _put(out, "buyer_reference", buyer_reference)
    _put(out, "electronic_address", _eaddress(eas_scheme, eas_id))
    _put(out, "einvoice_format", einvoice_format)
    _put(out, "language", language)
    return out


def _party_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAVY, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for k, v in rows:
        table.add_row(k, v or "[dim]—[/]")
    return table


def _seller_rows(s: Seller) -> list[tuple[str, str]]:
    return [("legal name", s.legal_name), ("address", ", ".join(s.address.lines())), ("VAT ID", s.vat_id),
            ("tax number", s.tax_number), ("registration", s.registration),
            ("contact", " · ".join(p for p in (s.contact.name, s.contact.email or "", s.contact.phone) if p)),
            ("IBAN", s.bank_account.iban_formatted), ("BIC", s.bank_account.bic),
            ("bank", s.bank_account.bank_name),
            ("e-invoice address", f"{s.electronic_address.scheme}:{s.electronic_address.identifier}"
             if s.electronic_address.is_set() else "")]


def _buyer_rows(c: ClientView) -> list[tuple[str, str]]:
    b = Buyer(legal_name=c.name, address=c.address)
    return [("id", str(c.id)), ("name", c.name), ("address", ", ".join(b.address.lines())), ("VAT ID", c.vat_id),
            ("buyer reference", c.buyer_reference),
            ("e-invoice address", f"{c.electronic_address.scheme}:{c.electronic_address.identifier}"
             if c.electronic_address.is_set() else ""),
            ("e-invoice format", c.einvoice_format.value), ("language", c.language.value),
            ("currency", c.currency), ("tax", c.tax_profile.get("mode", "standard")),
            ("billing e-mails", ", ".join(c.billing_emails))]


@settings_app.command("seller")
@guarded
@_grouped("address", _ADDRESS_OPTIONS, _address)
def seller(legal_name: str = _opt("Registered legal name, e.g. 'Brightline IT Services GmbH'."), *,
           address: dict[str, str], vat_id: str = _opt("VAT ID with its country prefix, e.g. DE136695976."),
           tax_number: str = _opt("National tax number (German Steuernummer), e.g. 99/815/08151."),
           registration: str = _opt("Company registration, e.g. 'HRB 12345, Amtsgericht Stuttgart'."),
           contact_name: str = _opt("Who to ask about invoices."), contact_email: str = _opt("Their e-mail."),
           contact_phone: str = _opt("Their phone number."), iban: str = _opt("IBAN payments go to."),
           bic: str = _opt("BIC of that account."), bank_name: str = _opt("The bank's name."),
           eas_scheme: str = _opt("E-invoice address: Peppol EAS code, e.g. 9930 (German VAT ID)."),
           eas_id: str = _opt("E-invoice address: the identifier in that scheme."),
           as_email: str = AS_OPTION) -> None:
    """Show the seller's details; with options, change them (owners). '' clears a field."""
    changes: dict[str, Any] = {}
    for key, value in (("legal_name", legal_name), ("vat_id", vat_id), ("tax_number", tax_number),
                       ("registration", registration)):
        _put(changes, key, value)
    _put(changes, "address", address)
    _put(changes, "contact", {k: v for k, v in (("name", contact_name), ("email", contact_email),
                                                ("phone", contact_phone)) if v is not None})
    _put(changes, "bank_account", {k: v for k, v in (("iban", iban), ("bic", bic), ("bank_name", bank_name))
                                   if v is not None})
    _put(changes, "electronic_address", _eaddress(eas_scheme, eas_id))
    db = open_db(settings())
    try:
        actor = reader(db, as_email)
        view = parties.update_seller(db.uow(), actor, changes) if changes else parties.get_seller(db.uow(), actor)
    finally:
        db.dispose()
    if changes:
        console.print("[green]✓[/] Seller details saved.")
    console.print(_party_table("Seller (on every invoice)", _seller_rows(view)))


@clients_app.command("list")
@guarded
def list_clients(name: str = typer.Option(None, "--name", help="Only names containing this."),
                 archived: bool = typer.Option(False, "--archived", help="Include archived clients."),
                 as_email: str = AS_OPTION) -> None:
    """Clients with their country, VAT ID, e-invoice format and language (archived ones with --archived)."""
    db = open_db(settings())
    try:
        rows = clients.list_clients(db.uow(), reader(db, as_email), name, limit=500, include_archived=archived)
    finally:
        db.dispose()
    table = Table(title="Clients", box=box.SIMPLE_HEAVY)
    for col in ("id", "name", "country", "VAT ID", "e-invoice", "language", "currency"):
        table.add_column(col, overflow="fold")
    for c in rows:
        table.add_row(str(c.id), c.name + (" [dim](archived)[/]" if c.archived_at else ""), c.address.country,
                      c.vat_id, c.einvoice_format.value, c.language.value, c.currency)
    console.print(table)


@clients_app.command("show")
@guarded
def show(client_id: int = typer.Argument(..., help="The client's id."), as_email: str = AS_OPTION) -> None:
    """One client's buyer details, as its invoices show them."""
    db = open_db(settings())
    try:
        c = clients.get_client(db.uow(), reader(db, as_email), client_id)
    finally:
        db.dispose()
    console.print(_party_table(f"Client {c.id}", _buyer_rows(c)))


@clients_app.command("update")
@guarded
@_grouped("changes", _BUYER_OPTIONS, _buyer_changes)
def update(client_id: int = typer.Argument(..., help="The client's id."), *, changes: dict[str, Any],
           as_email: str = AS_OPTION) -> None:
    """Change a client's buyer details (owners and finance). '' clears a field."""
    db = open_db(settings())
    try:
        c = clients.update_client(db.uow(), reader(db, as_email), client_id, changes)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Client {c.id} saved.")
    console.print(_party_table(f"Client {c.id}", _buyer_rows(c)))


@clients_app.command("create")
@guarded
@_grouped("details", _BUYER_OPTIONS, _buyer_changes)
def create(name: str = typer.Argument(..., help="The client's legal name."),
           currency: str = typer.Option(..., "--currency", help="ISO 4217 currency it is billed in."),
           email: list[str] = typer.Option([], "--email", help="A billing e-mail (repeat for more)."),
           terms: int = typer.Option(30, "--terms", help="Payment terms in days."),
           locale: str = typer.Option("en_GB", "--locale", help="Formats of numbers and dates, e.g. de_DE."), *,
           details: dict[str, Any], as_email: str = AS_OPTION) -> None:
    """Create a client with its buyer details (owners and finance)."""
    data: dict[str, Any] = {"name": name, "currency": currency, "billing_emails": list(email),
                            "payment_terms_days": terms, "locale": locale, **details}
    db = open_db(settings())
    try:
        c = clients.create_client(db.uow(), reader(db, as_email), data)
    finally:
        db.dispose()
    console.print(f"[green]✓[/] Client {c.id} created.")
    console.print(_party_table(f"Client {c.id}", _buyer_rows(c)))

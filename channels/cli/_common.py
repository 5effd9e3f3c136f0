"""What every command shares: settings, opening the database, who is acting, and turning errors into a red
line that says what to do next (exit code 1)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from babel.numbers import format_currency
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from domain.errors import BillingError
from domain.model.roles import Actor, Role
from domain.services import snapshots, users
from domain.settings import Settings
from domain.store.audit_keys import keyring_for
from domain.store.session import Database


def _width(fd: int) -> int | None:
    # Piped or captured output gets room for whole tables (rich would assume 80 columns); COLUMNS still wins.
    if os.environ.get("COLUMNS") or os.isatty(fd):
        return None
    return 160


console = Console(highlight=False, width=_width(1))
err = Console(stderr=True, highlight=False, width=_width(2))

SYSTEM = Actor.system("cli")

# A next step for the errors people meet most, by code.
_HINTS = {
    "user.exists": "To give them a new token instead: billable users token {email}",
    "user.not_found": "See who exists: billable users list",
    "invoice.not_found": "See the invoices: billable invoices list",
    "client.not_found": "Client ids are shown by: billable invoices list",
    "auth.forbidden": "Run it as someone who may: --as EMAIL (see billable users list)",
}


class CliError(Exception):
    """A refusal of the CLI's own (no database, no users yet), with what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def fail(message: str, hint: str = "", code: str | None = None) -> typer.Exit:
    err.print(f"[bold red]error[/]{f' [red]{code}[/]' if code else ''}: [red]{message}[/]", soft_wrap=True)
    if hint:
        err.print(hint, style="yellow", soft_wrap=True, markup=False)
    return typer.Exit(1)


P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command, mapping domain refusals and unreachable databases to a red line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BillingError as e:
            at = f" ({e.field})" if e.field else ""
            hint = _HINTS.get(e.code, "").format(email=kwargs.get("email", "EMAIL"))
            raise fail(f"{e.message}{at}", hint, e.code) from None
        except CliError as e:
            raise fail(e.message, e.hint) from None
        except ValidationError as e:  # settings from the environment
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise fail(f"bad setting{' ' + loc if loc else ''}: {first['msg'].removeprefix('Value error, ')}",
                       "Settings come from BILLABLE_* environment variables or a .env file (see README.md).",
                       ) from None
        except (OperationalError, DBAPIError) as e:
            try:
                url = where(Settings())
            except ValidationError:
                url = "BILLABLE_DATABASE_URL"
            raise fail(f"cannot use the database at {url}: {str(e.orig).strip().splitlines()[0]}",
                       "Check BILLABLE_DATABASE_URL. For PostgreSQL, is the server running? Start it with "
                       "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`.") from None

    return wrapper


def settings() -> Settings:
    return Settings()


def _url_for_humans(url: str) -> str:
    u = make_url(url)
    if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
        return str(Path(u.database).resolve())
    return u.render_as_string(hide_password=True)


def where(s: Settings) -> str:
    """Where the database is, for people: a file path for SQLite, the URL without password otherwise."""
    return _url_for_humans(s.database_url)


def schema_revisions(db: Database, url: str) -> tuple[str | None, str]:
    """(the database's revision(s), the newest revision(s) the code knows), each as text; None when the
    database has no schema yet. Features may add migration branches, so there can be several heads."""
    from alembic.runtime.migration import MigrationContext  # imported here: alembic is slow to import
    from alembic.script import ScriptDirectory

    from domain.store.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    have = ", ".join(sorted(current)) if current else None
    return have, ", ".join(sorted(heads))


def open_db(s: Settings, migrate: bool = False) -> Database:
    """Open the configured database; without `migrate`, refuse one whose schema is missing or behind."""
    url = s.database_url
    u = make_url(url)
    if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
        parent = Path(u.database).resolve().parent
        if not parent.is_dir():
            raise CliError(f"the folder {parent} for the SQLite database does not exist",
                           "Create it, or point BILLABLE_DATABASE_URL elsewhere (e.g. sqlite:///billable.db).")
    db = Database.open(url, migrate=migrate, keyring=keyring_for(s))
    if migrate:
        # Invoices issued before 0013 kept no snapshot: freeze theirs now, so no door reads an issued invoice
        # from today's client row (one query when there is nothing to do).
        report = snapshots.backfill_snapshots(db.uow(), Actor.system("billable init"))
        if report.frozen:
            console.print(f"Froze what {report.frozen} invoice(s) issued before snapshots were kept say "
                          f"({', '.join(report.numbers[:5])}{', ...' if report.frozen > 5 else ''}), from today's "
                          "seller and client details; audited as invoice.snapshot_backfilled.")
    if not migrate:
        current, head = schema_revisions(db, url)
        if current is None:
            db.dispose()
            raise CliError(f"the database at {where(s)} is not set up yet", "Run `billable init` first.")
        if current != head:
            db.dispose()
            raise CliError(f"the database at {where(s)} is at schema revision {current}, this code needs {head}",
                           "Run `billable init` to migrate it.")
    return db


def reader(db: Database, as_email: str | None) -> Actor:
    """Who reads: the person named by --as, else the first active owner."""
    if as_email:
        return users.actor_by_email(db.uow(), as_email)
    owners = [u for u in users.list_users(db.uow(), SYSTEM) if u.role == Role.OWNER.value and u.active]
    if not owners:
        raise CliError("there are no users yet, so nobody to read as",
                       "Load the demo (`billable demo`) or add an owner: billable users add EMAIL --role owner")
    return users.actor_by_email(db.uow(), owners[0].email)


def money(amount: str, currency: str) -> str:
    return format_currency(Decimal(amount), currency, locale="en_GB")


STATUS_STYLE = {
    "draft": "dim", "pending_approval": "yellow", "issued": "cyan", "sent": "cyan", "viewed": "cyan",
    "partially_paid": "blue", "paid": "green", "void": "strike dim", "uncollectible": "red",
}


def status_text(status: str, overdue: bool = False) -> str:
    style = "bold red" if overdue else STATUS_STYLE.get(status, "")
    label = status.replace("_", " ") + (" · overdue" if overdue else "")
    return f"[{style}]{label}[/]" if style else label


AS_OPTION: Any = typer.Option(None, "--as", help="Act as this user's e-mail (default: the first owner).",
                              metavar="EMAIL")

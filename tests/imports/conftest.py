"""Fixtures for the book import tests: an owner to import as, and CSV files made from rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from domain.model.roles import Actor
from domain.services import users
from domain.store.session import Database
from tests.support.fixtures import api, api_server, as_user, people, server

__all__ = ["api", "api_server", "as_user", "people", "server"]

TEMPLATES = Path(__file__).resolve().parents[2] / "imports" / "templates"


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def templates() -> dict[str, str]:
    """The three template files, as shipped."""
    return {f: (TEMPLATES / f"{f}.csv").read_text(encoding="utf-8") for f in ("clients", "arrangements", "time")}


def small_book(n: int = 3) -> dict[str, str]:
    """n clients, each with a retainer and T&M, and one time entry each."""
    clients = csv_text(["external_id", "name", "currency", "billing_emails", "tax_rate", "address_country"],
                       [[f"C-{i}", f"Client {i} GmbH", "EUR", f"ap@c{i}.example", "19", "DE"] for i in range(1, n + 1)])
    arrangements = csv_text(
        ["external_id", "client_external_id", "kind", "name", "starts_on", "fee", "default_rate"],
        [r for i in range(1, n + 1) for r in (
            [f"A-{i}-R", f"C-{i}", "retainer", "Managed", "2026-01-01", "900.00", ""],
            [f"A-{i}-T", f"C-{i}", "time_and_materials", "", "", "", "120.00"])])
    time = csv_text(["external_id", "client_external_id", "arrangement_external_id", "person", "role", "date", "hours"],
                    [[f"T-{i}", f"C-{i}", f"A-{i}-T", "eng@msp.example", "Engineer", "2026-03-02", "1.5"]
                     for i in range(1, n + 1)])
    return {"clients": clients, "arrangements": arrangements, "time": time}


@pytest.fixture
def owner(db: Database) -> Actor:
    users.add_user(db.uow(), Actor.system("tests"), users.UserIn(email="owner@msp.example", role="owner"))
    return users.actor_by_email(db.uow(), "owner@msp.example")

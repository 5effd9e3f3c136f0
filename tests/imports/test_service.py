"""The book import service on SQLite and PostgreSQL: problems with file, line and column; all or nothing; a second
run changes nothing; a changed row is reported, never overwritten."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from domain.model.roles import Actor
from domain.services import clients, contracts, imports
from domain.store.session import Database
from domain.store.tables import (
    ArrangementRow,
    ArrangementVersionRow,
    AuditRow,
    ClientRow,
    ImportKeyRow,
    MilestoneRow,
    TimeEntryRow,
)

from .conftest import csv_text, small_book, templates

TABLES = (ClientRow, ArrangementRow, ArrangementVersionRow, MilestoneRow, TimeEntryRow, ImportKeyRow, AuditRow)


def counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}


def where(report: imports.ImportReport) -> set[tuple[str, int, str]]:
    return {(p.file, p.line, p.column) for p in report.problems}


def test_a_dry_run_names_file_line_and_column_of_every_problem_and_keeps_nothing(db: Database, owner: Actor) -> None:
    files = {
        "clients": csv_text(["external_id", "name", "currency"],
                            [["C-1", "Acme GmbH", "EUR"], ["C-1", "Acme again", "EUR"], ["C-3", "Bad money", "EURO"]]),
        "arrangements": csv_text(
            ["external_id", "client_external_id", "kind", "starts_on", "fee", "default_rate"],
            [["A-1", "C-1", "retainer", "2026-01-01", "1.500,00", ""],     # line 2: money with a decimal comma
             ["A-2", "C-1", "hourly", "", "", "120.00"],                  # line 3: no such kind
             ["A-3", "C-1", "time_and_materials", "31/01/2026", "", "120.00"],  # line 4: not an ISO date
             ["A-4", "C-9", "time_and_materials", "", "", "120.00"],      # line 5: no such client
             ["A-5", "C-1", "time_and_materials", "", "", "120.00"],      # fine
             ["A-5", "C-1", "pass_through", "", "", ""]]),                # line 7: external id repeated
        "time": csv_text(["external_id", "client_external_id", "person", "role", "date", "hours"],
                         [["T-1", "C-1", "eng@msp.example", "Engineer", "2026-03-02", "25"]]),  # more than a day
    }
    before = counts(db)
    report = imports.import_book(db.uow(), owner, files, dry_run=True)
    assert report.dry_run and not report.committed
    assert where(report) == {
        ("clients.csv", 3, "external_id"), ("clients.csv", 4, "currency"),
        ("arrangements.csv", 2, "fee"), ("arrangements.csv", 3, "kind"), ("arrangements.csv", 4, "starts_on"),
        ("arrangements.csv", 5, "client_external_id"), ("arrangements.csv", 7, "external_id"),
        ("time.csv", 2, "hours")}
    by_place = {(p.file, p.line): p for p in report.problems}
    assert by_place["arrangements.csv", 2].value == "1.500,00" and "decimal" in by_place["arrangements.csv", 2].fix
    assert "retainer" in by_place["arrangements.csv", 3].fix   # says which kinds there are
    assert "YYYY-MM-DD" in by_place["arrangements.csv", 4].fix
    assert "line 6" in by_place["arrangements.csv", 7].message
    assert all(p.message and p.fix for p in report.problems)
    assert report.problem_count == 8 and report.clients.new == 1
    assert counts(db) == before   # a dry run keeps nothing


def test_a_header_the_templates_do_not_have_is_reported_on_line_1(db: Database, owner: Actor) -> None:
    files = {"clients": csv_text(["external_id", "name", "currencie"], [["C-1", "Acme", "EUR"]])}
    report = imports.import_book(db.uow(), owner, files)
    assert where(report) == {("clients.csv", 1, "currencie"), ("clients.csv", 1, "currency")}


def test_a_commit_with_one_bad_row_imports_nothing(db: Database, owner: Actor) -> None:
    files = small_book(20)
    rows = files["arrangements"].splitlines()
    rows[30] = rows[30].replace("120.00", "12O.00")   # line 31 of 41: a letter O for a zero
    files["arrangements"] = "\n".join(rows) + "\n"
    before = counts(db)
    with pytest.raises(imports.ImportRefused) as e:
        imports.import_book(db.uow(), owner, files, dry_run=False)
    assert e.value.status == 422 and e.value.code == "import.invalid"
    # and the time entry billed by that arrangement, which names the line to fix first
    assert where(e.value.report) == {("arrangements.csv", 31, "default_rate"),
                                     ("time.csv", 16, "arrangement_external_id")}
    assert "line 31" in e.value.report.problems[1].message
    assert e.value.details["problems"][0]["line"] == 31
    assert counts(db) == before   # not the 20 good clients, not one audit entry


def test_every_kind_imports_once_and_a_second_run_changes_nothing(db: Database, owner: Actor) -> None:
    files = templates()
    done = imports.import_book(db.uow(), owner, files, dry_run=False)
    assert done.committed and done.problem_count == 0
    assert (done.clients.new, done.arrangements.new, done.time.new) == (1, 6, 1)
    client = clients.list_clients(db.uow(), owner)[0]
    assert client.name == "Nordwerk Maschinenbau GmbH" and client.vat_id == "DE136695976"
    assert client.address.city == "Stuttgart" and client.electronic_address.scheme == "9930"
    arrangements = {a.kind: a for a in clients.list_arrangements(db.uow(), owner, client.id)}
    assert set(arrangements) == {"retainer", "time_and_materials", "milestone", "subscription", "pass_through",
                                 "sla_credit"}
    assert arrangements["retainer"].terms["fee"] == "2500.00"
    assert arrangements["time_and_materials"].terms["role_rates"] == {"Engineer": "120.00", "Architect": "150.00"}
    assert [(m.name, m.amount) for m in arrangements["milestone"].milestones] == [("Design", "5000.00"),
                                                                                  ("Go-live", "2500.00")]
    assert arrangements["sla_credit"].terms["retainer_arrangement_id"] == arrangements["retainer"].id
    versions = contracts.list_versions(db.uow(), owner, client.id, arrangements["subscription"].id).versions
    assert [(v.number, v.terms and v.terms["seats"]) for v in versions] == [(1, 48)]   # version 1, as an API add
    with db.engine.connect() as conn:
        entry = conn.execute(select(TimeEntryRow)).one()
        rows = list(conn.execute(select(AuditRow).order_by(AuditRow.seq)))
    audit = [r.action for r in rows]
    assert entry.hours_centi == 350 and entry.arrangement_id == arrangements["time_and_materials"].id
    assert audit.count("arrangement.created") == 6 and audit[-1] == "book.imported"
    assert rows[-1].after["digest"] == done.digest and rows[-1].after["counts"]["arrangements"]["new"] == 6
    assert set(rows[-1].after["files"]) == {"clients", "arrangements", "time"}
    before = counts(db)
    again = imports.import_book(db.uow(), owner, files, dry_run=False)
    assert (again.clients.unchanged, again.arrangements.unchanged, again.time.unchanged) == (1, 6, 1)
    assert (again.clients.new, again.arrangements.new, again.time.new) == (0, 0, 0)
    assert counts(db) == {**before, "audit_log": before["audit_log"] + 1}   # just the import's own entry


def test_a_row_changed_since_it_was_imported_is_reported_not_overwritten(db: Database, owner: Actor) -> None:
    imports.import_book(db.uow(), owner, small_book(2), dry_run=False)
    changed = small_book(3)
    changed["clients"] = changed["clients"].replace("Client 2 GmbH", "Client Two GmbH")
    report = imports.import_book(db.uow(), owner, changed, dry_run=True)
    assert where(report) == {("clients.csv", 3, "name")}
    assert "imported before" in report.problems[0].message and "never overwrites" in report.problems[0].fix
    assert report.clients.new == 1 and report.clients.unchanged == 1   # C-3 is new, C-1 as it was
    with pytest.raises(imports.ImportRefused):
        imports.import_book(db.uow(), owner, changed, dry_run=False)
    assert sorted(c.name for c in clients.list_clients(db.uow(), owner)) == ["Client 1 GmbH", "Client 2 GmbH"]


def test_rows_may_refer_to_what_an_earlier_import_made(db: Database, owner: Actor) -> None:
    first = small_book(1)
    imports.import_book(db.uow(), owner, {"clients": first["clients"]}, dry_run=False)
    later: dict[str, Any] = {"arrangements": first["arrangements"], "time": first["time"]}
    done = imports.import_book(db.uow(), owner, later, dry_run=False)
    assert (done.arrangements.new, done.time.new) == (2, 1)
    assert counts(db)["clients"] == 1


def test_nothing_to_import_is_refused(db: Database, owner: Actor) -> None:
    from domain.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as e:
        imports.import_book(db.uow(), owner, {"clients": "  "})
    assert e.value.code == "import.empty"


def test_two_commits_of_the_same_files_at_once_import_them_once(db: Database, owner: Actor) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from domain.errors import Conflict

    files = small_book(5)

    def commit() -> str:
        try:
            r = imports.import_book(db.uow(), owner, files, dry_run=False)
        except Conflict as e:
            assert e.code == "import.conflict" and e.status == 409
            return "conflict"
        return "new" if r.clients.new == 5 else "unchanged" if r.clients.unchanged == 5 else "half"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: commit(), range(2)))
    assert outcomes in (["conflict", "new"], ["new", "unchanged"])
    assert counts(db)["clients"] == 5 and counts(db)["import_keys"] == 5 + 10 + 5


def test_the_collector_collects_less_during_an_import_and_as_before_after(db: Database, owner: Actor) -> None:
    import gc

    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    imports.import_book(db.uow(), owner, small_book(1), progress=lambda *_: during.append(gc.get_threshold()))
    assert during and during[0][0] > before[0]
    assert gc.get_threshold() == before

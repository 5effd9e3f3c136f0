"""Onboarding a whole book (issue 13): clients, their arrangements (with their terms) and opening unbilled time
from three CSV files, one column per field (templates in imports/templates/, columns in the README).

One use case, `import_book`, for every door. A dry run checks every row with the same models and service checks
as the API (ClientIn, the arrangement terms and `check_arrangement`, TimeEntryIn and log_time's checks), inside a
transaction that is rolled back: every problem comes back with its file, line, column and what to do; nothing is
kept. A commit does the same and keeps it only when there is no problem at all: one transaction, all or nothing.

Each row carries an `external_id` (unique per kind). What an import made of a row is remembered with the row as
imported (table import_keys): running the same files again changes nothing (the rows are counted as unchanged), and
a row changed since it was imported is reported, never silently overwritten. The rows are written set-based (one
flush per kind) so 5,000 clients with 2 arrangements each import in seconds (benchmarks/import.py).
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from domain.errors import BillingError, Conflict, ValidationFailed
from domain.model.arrangements import TERMS_BY_KIND, Terms
from domain.model.roles import Actor, Perm
from domain.services._auth import require
from domain.services._input import parse_input
from domain.services.clients import (
    ClientIn,
    check_arrangement,
    check_managers,
    new_arrangement_row,
    new_client_row,
    new_milestone_rows,
    parse_terms,
)
from domain.services.contracts import version_one
from domain.services.views import ArrangementView, ClientView, MilestoneView, TimeEntryView, View
from domain.services.work import TimeEntryIn, _check_time  # log_time's own checks, for the same refusals
from domain.store.tables import ArrangementRow, ClientRow, ImportKeyRow, TimeEntryRow, UserRow
from domain.store.uow import UnitOfWork

FILES = ("clients", "arrangements", "time")
KIND_OF = {"clients": "client", "arrangements": "arrangement", "time": "time"}
MAX_ROWS = 100_000        # per file
MAX_PROBLEMS = 1000       # listed in a report (all are counted)
LIST_SEP = ";"            # several values in one cell: a@x.example;b@x.example, Engineer=120.00;Architect=150.00

# ---- the columns: name -> (where it goes in the service's input, what it takes) --------------------------------

_DEC = "a decimal number with a dot and no thousands separator, e.g. 1500.00"
_DATE = "a date as YYYY-MM-DD, e.g. 2026-03-31"
_BOOL = "true or false"
_MAP = f"NAME=AMOUNT pairs separated by '{LIST_SEP}', e.g. Engineer=120.00;Architect=150.00"

CLIENT_COLUMNS: dict[str, tuple[str, str]] = {
    "external_id": ("", "your own unique id for the client, e.g. C-0001 (required)"),
    "name": ("name", "the client's legal name (required)"),
    "currency": ("currency", "an ISO 4217 code, e.g. EUR (required)"),
    "billing_emails": ("billing_emails", f"e-mail addresses separated by '{LIST_SEP}'"),
    "payment_terms_days": ("payment_terms_days", "days from 0 to 365 (default 30)"),
    "tax_mode": ("tax_profile.mode", "standard, exempt or reverse_charge (default standard)"),
    "tax_region": ("tax_profile.region", "a tax region, e.g. DE"),
    "tax_rate": ("tax_profile.rate", "a VAT rate in percent, e.g. 19"),
    "tax_section_rates": ("tax_profile.section_rates", f"SECTION=RATE pairs separated by '{LIST_SEP}', "
                                                       "e.g. hardware=19;services=7"),
    "tax_exemption_reason": ("tax_profile.exemption_reason", "why it is exempt (required when tax_mode is exempt)"),
    "po_required": ("po_required", _BOOL),
    "po_number": ("po_number", "the client's purchase order number"),
    "locale": ("locale", "e.g. de_DE or en_GB (default en_GB)"),
    "account_managers": ("account_manager_ids", f"account managers' e-mails separated by '{LIST_SEP}' (users of "
                                                "billable with the role account_manager)"),
    "external_ref": ("external_ref", "the client's id in your CRM, e.g. hubspot:123 (unique)"),
    "address_street": ("address.street", "street and number"),
    "address_additional": ("address.additional", "a second address line"),
    "address_postcode": ("address.postcode", "postcode"),
    "address_city": ("address.city", "city"),
    "address_region": ("address.region", "state, county or province"),
    "address_country": ("address.country", "an ISO 3166-1 alpha-2 code, e.g. DE"),
    "vat_id": ("vat_id", "the VAT ID with its country prefix, e.g. DE136695976 (required for reverse charge)"),
    "buyer_reference": ("buyer_reference", "BT-10, e.g. a German public buyer's Leitweg-ID"),
    "eas_scheme": ("electronic_address.scheme", "a Peppol EAS code, e.g. 9930"),
    "eas_id": ("electronic_address.identifier", "the e-invoice address for that scheme, e.g. DE136695976"),
    "einvoice_format": ("einvoice_format", "none, facturx, xrechnung-cii, xrechnung-ubl or peppol (default none)"),
    "language": ("language", "en, de, nl or fr (default: the locale's)"),
}

ARRANGEMENT_COLUMNS: dict[str, tuple[str, str]] = {
    "external_id": ("", "your own unique id for the arrangement, e.g. A-0001 (required)"),
    "client_external_id": ("", "the external_id of its client, in clients.csv or imported before (required)"),
    "kind": ("kind", "retainer, time_and_materials, milestone, subscription, pass_through or sla_credit "
                     "(required)"),
    "name": ("name", "a name for invoices, e.g. Managed services"),
    "starts_on": ("starts_on", _DATE),
    "ends_on": ("ends_on", _DATE + " (empty: open-ended)"),
    "fee": ("fee", "retainer: the fee per period, " + _DEC),
    "cycle": ("cycle", "retainer, subscription: monthly, quarterly or yearly (default monthly)"),
    "billing": ("billing", "retainer: advance or arrears (default advance)"),
    "included_hours": ("included_hours", "retainer: hours included per period, e.g. 10"),
    "prorate": ("prorate", "retainer: " + _BOOL + " (default true)"),
    "default_rate": ("default_rate", "time_and_materials: the hourly rate, " + _DEC),
    "role_rates": ("role_rates", "time_and_materials: rates by role, " + _MAP),
    "person_rates": ("person_rates", "time_and_materials: rates by person, e.g. ana@x.example=140.00"),
    "tiers": ("tiers", f"time_and_materials: UP_TO_HOURS=RATE pairs separated by '{LIST_SEP}', the last without "
                       "hours, e.g. 40=100.00;=90.00"),
    "cap": ("cap", "time_and_materials: not to exceed, " + _DEC),
    "threshold_hours": ("threshold_hours", "time_and_materials: draft when unbilled hours reach this"),
    "threshold_amount": ("threshold_amount", "time_and_materials: draft when the unbilled amount reaches this"),
    "milestones": ("milestones", f"milestone: NAME=AMOUNT pairs separated by '{LIST_SEP}', "
                                 "e.g. Design=5000.00;Go-live=2500.00"),
    "product": ("product", "subscription: what is licensed, e.g. Endpoint protection"),
    "seats": ("seats", "subscription: a whole number of seats, at least 1"),
    "unit_price": ("unit_price", "subscription: the price per seat and period, " + _DEC),
    "markup_pct": ("markup_pct", "pass_through: the markup in percent, e.g. 12"),
    "retainer_external_id": ("retainer_arrangement_id", "sla_credit: the external_id of the client's retainer"),
    "credit_pct": ("credit_pct", "sla_credit: percent of the retainer's period fee per breach (or fixed_amount)"),
    "fixed_amount": ("fixed_amount", "sla_credit: a fixed credit per breach, " + _DEC),
}

TIME_COLUMNS: dict[str, tuple[str, str]] = {
    "external_id": ("", "your own unique id for the entry, e.g. T-0001 (required)"),
    "client_external_id": ("client_id", "the external_id of its client (required)"),
    "arrangement_external_id": ("arrangement_id", "the external_id of the time_and_materials arrangement that "
                                                  "bills it (optional)"),
    "person": ("person", "who worked: a name or e-mail (required)"),
    "role": ("role", "the role the rates know, e.g. Engineer (required)"),
    "date": ("date", _DATE + " (required)"),
    "hours": ("hours", "hours worked, more than 0 and at most 24, up to 2 decimals, e.g. 1.50 (required)"),
    "description": ("description", "what was done"),
    "external_ref": ("external_ref", "the entry's id in your time tracker (unique)"),
}

COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "clients": CLIENT_COLUMNS, "arrangements": ARRANGEMENT_COLUMNS, "time": TIME_COLUMNS}
REQUIRED: dict[str, tuple[str, ...]] = {
    "clients": ("external_id", "name", "currency"),
    "arrangements": ("external_id", "client_external_id", "kind"),
    "time": ("external_id", "client_external_id", "person", "role", "date", "hours"),
}
_LISTS = {"billing_emails", "account_managers"}
_MAPS = {"tax_section_rates", "role_rates", "person_rates"}


# ---- input and report ------------------------------------------------------------------------------------------


class ImportFiles(BaseModel):
    """The CSV files as text (UTF-8, a header row first); any of them may be left out."""

    model_config = ConfigDict(extra="forbid")
    clients: str = Field(default="", description="clients.csv")
    arrangements: str = Field(default="", description="arrangements.csv")
    time: str = Field(default="", description="time.csv: opening unbilled time entries")


class ImportProblem(View):
    """One thing to fix before the book can be imported."""

    file: str      # clients.csv, arrangements.csv, time.csv
    line: int      # the line in the file (1 is the header)
    column: str
    value: str
    message: str   # what is wrong
    fix: str       # what to do


class KindCounts(View):
    rows: int = 0
    new: int = 0
    unchanged: int = 0  # imported before, exactly as in this file: skipped


class ImportReport(View):
    """What an import found (dry run) or did (commit)."""

    dry_run: bool
    committed: bool
    digest: str  # SHA-256 of the files: what the audit entry names
    clients: KindCounts
    arrangements: KindCounts
    time: KindCounts
    problem_count: int
    problems: list[ImportProblem]  # the first MAX_PROBLEMS, by file and line

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


class ImportRefused(ValidationFailed):
    """A commit refused because the files have problems: nothing was imported. `report` lists them all."""

    code = "import.invalid"

    def __init__(self, report: ImportReport) -> None:
        first = report.problems[0] if report.problems else None
        where = f" (first: {first.file} line {first.line}, column {first.column}: {first.message})" if first else ""
        super().__init__(f"{report.problem_count} problem(s) in the files, so nothing was imported{where}: fix "
                         "them and import again (a dry run lists them all)",
                         field=first.column if first else None,
                         details={"problems": [p.model_dump(mode="json") for p in report.problems],
                                  "problem_count": report.problem_count})
        self.report = report


Progress = Callable[[str, int, int], None]


# ---- reading the files -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    file: str
    line: int
    values: dict[str, str]  # column -> stripped value, empty cells left out

    @property
    def external_id(self) -> str:
        return self.values.get("external_id", "")


@dataclass(slots=True)
class _Run:
    """One import's state: rows, problems, what each external id became."""

    uow: UnitOfWork
    actor: Actor
    dry_run: bool = True  # a dry run is rolled back: it records no audit entries (nothing would keep them)
    problems: list[ImportProblem] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {f: {"rows": 0, "new": 0, "unchanged": 0}
                                                                          for f in FILES})
    keys: dict[str, dict[str, ImportKeyRow]] = field(default_factory=dict)   # kind -> external id -> key
    failed: dict[str, dict[str, int]] = field(default_factory=dict)          # kind -> external id -> line
    new_keys: list[tuple[str, str, Any, dict[str, str]]] = field(default_factory=list)

    def problem(self, row: _Row | None, file: str, column: str, message: str, fix: str, line: int = 0) -> None:
        value = row.values.get(column, "") if row is not None else ""
        self.problems.append(ImportProblem(file=f"{file}.csv", line=row.line if row is not None else line,
                                           column=column, value=value[:200], message=message, fix=fix))


def _read(run: _Run, file: str, text: str) -> list[_Row]:
    """The file's rows, or problems with its header (then no rows: each would be wrong the same way)."""
    if not text.strip():
        return []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    columns = COLUMNS[file]
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error) as e:
        run.problem(None, file, "", f"the file cannot be read as CSV ({e})", "Save it as CSV (UTF-8, comma "
                    "separated) with the template's header row: imports/templates/" + file + ".csv", line=1)
        return []
    bad = False
    for h in header:
        if h not in columns:
            bad = True
            run.problem(None, file, h, f"unknown column {h!r}", "Use the template's column names: "
                        + ", ".join(columns), line=1)
    for seen in {h for h in header if header.count(h) > 1}:
        bad = True
        run.problem(None, file, seen, f"the column {seen!r} appears more than once", "Keep one of them", line=1)
    for req in REQUIRED[file]:
        if req not in header:
            bad = True
            run.problem(None, file, req, f"the required column {req!r} is missing",
                        f"Add the column {req} ({columns[req][1]})", line=1)
    if bad:
        return []
    rows: list[_Row] = []
    start = reader.line_num + 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                run.problem(None, file, "", f"more than {MAX_ROWS:,} rows", "Split the file and import the parts "
                            "one after the other", line=line)
                break
            if len(cells) != len(header):
                run.problem(None, file, "", f"{len(cells)} cells where the header has {len(header)} columns",
                            "Give every row as many cells as the header (quote a value that holds a comma)",
                            line=line)
                continue
            rows.append(_Row(file, line, {h: c.strip() for h, c in zip(header, cells, strict=True) if c.strip()}))
    except csv.Error as e:
        run.problem(None, file, "", f"the file cannot be read as CSV ({e})", "Check the quoting near this line",
                    line=reader.line_num)
    return rows


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.split(LIST_SEP) if p.strip()]


def _pairs(value: str) -> list[tuple[str, str]]:
    out = []
    for part in _split(value):
        name, sep, amount = part.rpartition("=")
        if not sep:
            raise ValueError(f"{part!r} is not NAME=VALUE")
        out.append((name.strip(), amount.strip()))
    return out


def _nest(row: _Row, columns: Mapping[str, tuple[str, str]], skip: Sequence[str] = ()) -> dict[str, Any]:
    """The row as the service's input: each column's value at its place (a.b -> {"a": {"b": ...}})."""
    data: dict[str, Any] = {}
    for col, value in row.values.items():
        path = columns[col][0]
        if not path or col in skip:
            continue
        v: Any = value
        if col in _LISTS:
            v = _split(value)
        elif col in _MAPS:
            v = dict(_pairs(value))
        elif col == "tiers":
            v = [{"up_to_hours": h, "rate": r} if h else {"rate": r} for h, r in _pairs(value)]
        elif col == "milestones":
            v = [{"name": n, "amount": a} for n, a in _pairs(value)]
        head, _, sub = path.partition(".")
        if sub:
            data.setdefault(head, {})[sub] = v
        else:
            data[head] = v
    return data


def _column_of(file: str, fld: str | None, message: str, fallback: str) -> str:
    """The column a service's field path (address.country, tiers.0.rate, tax_profile) came from."""
    columns = COLUMNS[file]
    by_path = {p: c for c, (p, _) in columns.items() if p}
    parts = (fld or "").split(".") if fld else []
    for n in range(len(parts), 0, -1):
        col = by_path.get(".".join(parts[:n]))
        if col:
            if n == 1 and any(p.startswith(parts[0] + ".") for p in by_path):  # a group (tax_profile): which part?
                return _named_in(message, columns) or col
            return col
    if parts and any(p.startswith(parts[0] + ".") for p in by_path):
        return _named_in(message, columns) or next(c for c, (p, _) in columns.items()
                                                   if p.startswith(parts[0] + "."))
    return _named_in(message, columns) or fallback


def _named_in(message: str, columns: Mapping[str, tuple[str, str]]) -> str | None:
    hits = [(message.find(p.rpartition(".")[2] or c), c) for c, (p, _) in columns.items() if p
            and (p.rpartition(".")[2] or c) in message]
    return min(hits)[1] if hits else None


def _refused(run: _Run, row: _Row, e: BillingError, fallback: str, kind: str = "") -> None:
    """Every field a service refused, as problems on this row's columns."""
    columns = COLUMNS[row.file]
    errors = e.details.get("errors") if isinstance(e.details, dict) else None
    items = errors if isinstance(errors, list) and errors else [{"field": e.field, "message": e.message}]
    seen: set[tuple[str, str]] = set()
    for err in items:
        message = str(err.get("message") or e.message)
        col = _column_of(row.file, err.get("field") or None, message, fallback)
        if (col, message) in seen:
            continue
        seen.add((col, message))
        if message == "Extra inputs are not permitted":
            message = f"a {kind or 'row'} has no {col}" if kind else f"{col} is not allowed here"
            fix = f"Leave {col} empty for a {kind}" if kind else f"Leave {col} empty"
        elif message.startswith("Field required"):
            message = f"{col} is required"
            fix = f"Fill in {col}: {columns.get(col, ('', ''))[1]}"
        elif "does not match any of the expected tags" in message or (col == "kind" and "tag" in message):
            message = f"unknown kind {row.values.get('kind', '')!r}"
            fix = "Use one of: " + ", ".join(TERMS_BY_KIND)
        else:
            fix = f"Write {col} as {columns[col][1]}" if col in columns else "Correct the row"
        run.problem(row, row.file, col, message, fix)


def _digest(files: ImportFiles) -> str:
    h = hashlib.sha256()
    for name in FILES:
        data = getattr(files, name).encode()
        h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


# ---- the use case ------------------------------------------------------------------------------------------------


def import_book(uow: UnitOfWork, actor: Actor, files: ImportFiles | Mapping[str, Any], dry_run: bool = True,
                progress: Progress | None = None) -> ImportReport:
    """Check (dry run) or import (commit) clients, arrangements and opening time from CSV; a commit with any
    problem imports nothing and raises ImportRefused with the report."""
    require(actor, Perm.MANAGE_CLIENTS)
    files = parse_input(ImportFiles, files)
    if not any(getattr(files, f).strip() for f in FILES):
        raise ValidationFailed("give at least one file: clients, arrangements or time (CSV with a header row)",
                               code="import.empty", field="clients")
    digest = _digest(files)
    try:
        with _fewer_collections():
            return _import(uow, actor, files, dry_run, digest, progress or (lambda _label, _done, _total: None))
    except IntegrityError:
        # Two imports of the same rows at once (a second click on Commit): the one that finished first keeps them;
        # this one is rolled back whole, and its dry run now shows them as imported.
        raise Conflict("another import of some of these rows finished first, so nothing of this one was kept: run "
                       "the dry run again (rows imported since are shown as unchanged)", code="import.conflict",
                       field="external_id") from None


_gc_lock = threading.Lock()
_gc_users = 0
_gc_before: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """An import allocates hundreds of thousands of objects that all live until its commit: with the cyclic
    collector's default thresholds it walks them again and again, a fifth of the import's CPU (measured with
    benchmarks/import.py). Collect less often while any import runs; the thresholds come back after the last."""
    global _gc_users, _gc_before
    with _gc_lock:
        if _gc_users == 0:
            _gc_before = gc.get_threshold()
            gc.set_threshold(50_000, 20, 100)
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_before)


def _import(uow: UnitOfWork, actor: Actor, files: ImportFiles, dry_run: bool, digest: str, tell: Progress,
            ) -> ImportReport:
    with uow:
        run = _Run(uow, actor, dry_run)
        rows = {f: _read(run, f, getattr(files, f)) for f in FILES}
        total = sum(len(r) for r in rows.values())
        for f in FILES:
            run.counts[f]["rows"] = len(rows[f])
        _load_keys(run, rows)
        done = 0

        def step(label: str, n: int) -> None:
            nonlocal done
            done += n
            tell(label, done, total)

        clients = _clients(run, rows["clients"], step)
        arrangements = _arrangements(run, rows["arrangements"], clients, step)
        entries = _time(run, rows["time"], clients, arrangements, step)
        problems = sorted(run.problems, key=lambda p: (FILES.index(p.file.removesuffix(".csv")), p.line, p.column))
        counts = {f: KindCounts(**run.counts[f]) for f in FILES}
        report = ImportReport(dry_run=dry_run, committed=False, digest=digest, clients=counts["clients"],
                              arrangements=counts["arrangements"], time=counts["time"],
                              problem_count=len(problems), problems=problems[:MAX_PROBLEMS])
        if dry_run:
            return report  # leaving without commit rolls every row back: a dry run keeps nothing
        if problems:
            raise ImportRefused(report)
        tell("Writing the audit log", total, total)
        _remember(run, digest)
        uow.audit.record(actor, "book.imported", "import", digest[:32], after={
            "digest": digest, "counts": run.counts, "time_entries": entries,
            "files": {f: hashlib.sha256(getattr(files, f).encode()).hexdigest() for f in FILES
                      if getattr(files, f).strip()}})
        uow.commit()
    return report.model_copy(update={"committed": True})


def _load_keys(run: _Run, rows: Mapping[str, list[_Row]]) -> None:
    """The import keys of every external id the files name: their own rows' and those they refer to."""
    named = {
        "client": {r.external_id for r in rows["clients"]}
        | {r.values.get("client_external_id", "") for f in ("arrangements", "time") for r in rows[f]},
        "arrangement": {r.external_id for r in rows["arrangements"]}
        | {r.values.get("retainer_external_id", "") for r in rows["arrangements"]}
        | {r.values.get("arrangement_external_id", "") for r in rows["time"]},
        "time": {r.external_id for r in rows["time"]},
    }
    for kind, found in named.items():
        ids = sorted(found - {""})
        keys: dict[str, ImportKeyRow] = {}
        for lo in range(0, len(ids), 500):
            q = select(ImportKeyRow).where(ImportKeyRow.kind == kind, ImportKeyRow.external_id.in_(ids[lo:lo + 500]))
            keys.update({k.external_id: k for k in run.uow.session.execute(q).scalars()})
        run.keys[kind] = keys
        run.failed[kind] = {}


def _imported(run: _Run, kind: str, table: Any) -> dict[str, Any]:
    """The rows imported before that the files name, by external id, loaded in a few queries."""
    by_id = {k.subject_id: ext for ext, k in run.keys[kind].items()}
    ids = sorted(by_id)
    out: dict[str, Any] = {}
    for lo in range(0, len(ids), 500):
        for r in run.uow.session.execute(select(table).where(table.id.in_(ids[lo:lo + 500]))).scalars():
            out[by_id[r.id]] = r
    return out


def _seen(run: _Run, row: _Row, kind: str, firsts: dict[str, int]) -> bool:
    """True when the row is not to be created: no external id, a repeat in the file, imported before (unchanged,
    counted; changed, reported). A row refused here that was not imported before is remembered as failed."""
    if _skip(run, row, kind, firsts):
        if row.external_id and row.external_id not in run.keys[kind]:
            run.failed[kind].setdefault(row.external_id, row.line)
        return True
    return False


def _skip(run: _Run, row: _Row, kind: str, firsts: dict[str, int]) -> bool:
    ext = row.external_id
    if not ext:
        run.problem(row, row.file, "external_id", "external_id is empty", "Give every row its own external_id "
                    "(your id for it, e.g. from the system you are leaving): it is what makes a second import "
                    "of the same file change nothing")
        return True
    if ext in firsts:
        run.problem(row, row.file, "external_id", f"line {firsts[ext]} already has the external_id {ext!r}",
                    "Give each row its own external_id (or delete the repeated row)")
        return True
    firsts[ext] = row.line
    if len(ext) > 200:
        run.problem(row, row.file, "external_id", "external_id is longer than 200 characters", "Shorten it")
        return True
    key = run.keys[kind].get(ext)
    if key is None:
        return False
    before = {str(k): str(v) for k, v in (key.row or {}).items()}
    changed = sorted(c for c in set(before) | set(row.values) if c != "external_id"
                     and before.get(c, "") != row.values.get(c, ""))
    if not changed:
        run.counts[row.file]["unchanged"] += 1
        return True
    where = {"client": "PATCH /v1/clients/{id}", "arrangement": "an amendment (POST .../amendments)",
             "time": "a new entry"}[kind]
    run.problem(row, row.file, changed[0], f"{kind} {ext!r} was imported before ({kind} {key.subject_id}) with "
                f"other values in: {', '.join(changed)}",
                f"An import never overwrites: change it in billable ({where}), or put the row back as it was "
                "imported; a new row needs a new external_id")
    return True


def _clients(run: _Run, rows: list[_Row], step: Callable[[str, int], None]) -> dict[str, ClientRow]:
    """Clients by external id: those this import creates and those imported before that the files refer to."""
    uow = run.uow
    out: dict[str, ClientRow] = {}
    firsts: dict[str, int] = {}
    new: list[tuple[_Row, ClientRow]] = []
    managers: dict[str, UserRow | None] = {}
    refs: dict[str, int] = {}
    for i, row in enumerate(rows, 1):
        if i % 500 == 0:
            step("Checking clients", 500)
        if _seen(run, row, "client", firsts):
            continue
        data = _nest(row, CLIENT_COLUMNS, skip=("account_managers",))
        ok = True
        ids: list[int] = []
        for email in _split(row.values.get("account_managers", "")):
            if email.lower() not in managers:
                managers[email.lower()] = uow.users.by_email(email.lower())
            user = managers[email.lower()]
            if user is None:
                ok = False
                run.problem(row, "clients", "account_managers", f"no user {email!r}", "Add them first "
                            "(billable users add EMAIL --role account_manager) or leave them out")
            else:
                ids.append(user.id)
        data["account_manager_ids"] = ids
        try:
            client_in = parse_input(ClientIn, data)
            check_managers(uow, client_in.account_manager_ids)
        except BillingError as e:
            _refused(run, row, e, "name")
            ok = False
        else:
            ref = client_in.external_ref
            if ref is not None:
                if ref in refs:
                    run.problem(row, "clients", "external_ref", f"line {refs[ref]} has the same external_ref",
                                "Give each client its own external_ref (or none)")
                    ok = False
                refs[ref] = row.line
        if not ok:
            run.failed["client"][row.external_id] = row.line
            continue
        c = new_client_row(uow, client_in)
        c.archived_at = None
        c.managers = [u for u in (uow.users.get(i) for i in dict.fromkeys(client_in.account_manager_ids)) if u]
        new.append((row, c))
        out[row.external_id] = c
    if refs:
        taken = {c.external_ref: c.id for lo in range(0, len(refs), 500)
                 for c in uow.clients.by_external_refs(list(refs)[lo:lo + 500])}
        for row, c in list(new):
            if c.external_ref in taken:
                run.problem(row, "clients", "external_ref", f"client {taken[c.external_ref]} already has the "
                            f"external_ref {c.external_ref!r}", "Leave external_ref empty or give another one")
                new.remove((row, c))
                out.pop(row.external_id)
                run.failed["client"][row.external_id] = row.line
    step("Checking clients", len(rows) % 500)
    _add(uow, [c for _, c in new])
    run.counts["clients"]["new"] = len(new)
    for row, c in new:
        run.new_keys.append(("client", row.external_id, c, row.values))
        if not run.dry_run:
            uow.audit.record(run.actor, "client.created", "client", c.id,
                             after=ClientView.of(c).model_dump(mode="json"))
    return {**_imported(run, "client", ClientRow), **out}


def _ids(uow: UnitOfWork, rows: Sequence[Any]) -> None:
    """Give new rows their ids first (PostgreSQL: from its sequences; SQLite: after the table's highest, safe since
    its writers begin IMMEDIATE), so each table is written by one executemany without RETURNING."""
    if uow.session.get_bind().dialect.name == "postgresql":
        uow.preassign_ids(rows)
        return
    by_table: dict[Any, list[Any]] = {}
    for r in rows:
        if r.id is None:
            by_table.setdefault(type(r), []).append(r)
    for table, todo in by_table.items():
        top = int(uow.session.execute(select(func.coalesce(func.max(table.id), 0))).scalar_one())
        for n, r in enumerate(todo, top + 1):
            r.id = n


def _add(uow: UnitOfWork, rows: Sequence[Any]) -> None:
    """Add rows to the session in one flush (rows later steps look up by id: clients, arrangements)."""
    if not rows:
        return
    _ids(uow, rows)
    uow.session.add_all(rows)
    uow.flush()


def _insert(uow: UnitOfWork, rows: Sequence[Any]) -> None:
    """Write rows nothing in this import reads back (versions, time entries) with one Core executemany per table:
    every column as the row object holds it, without the ORM's bookkeeping."""
    if not rows:
        return
    _ids(uow, rows)
    by_table: dict[Any, list[Any]] = {}
    for r in rows:
        by_table.setdefault(type(r), []).append(r)
    for model, todo in by_table.items():
        table = model.__table__
        keys = [c.key for c in table.columns]
        uow.session.execute(insert(table), [{k: getattr(r, k) for k in keys} for r in todo])


def _client_for(run: _Run, row: _Row, clients: Mapping[str, ClientRow], column: str) -> ClientRow | None:
    ext = row.values.get(column, "")
    client = clients.get(ext)
    if client is not None:
        return client
    if not ext:
        return None  # the required-column check reports it
    if ext in run.failed["client"]:
        run.problem(row, row.file, column, f"its client {ext!r} (clients.csv line {run.failed['client'][ext]}) "
                    "cannot be imported", "Fix that client's row first")
    else:
        run.problem(row, row.file, column, f"no client with the external_id {ext!r}",
                    "Add the client to clients.csv, or correct the reference (a client imported before may be "
                    "referred to by its external_id)")
    return None


def _arrangements(run: _Run, rows: list[_Row], clients: Mapping[str, ClientRow],
                  step: Callable[[str, int], None]) -> dict[str, ArrangementRow]:
    """Arrangements by external id (new and imported before). SLA credits come last: they refer to retainers."""
    uow = run.uow
    out: dict[str, ArrangementRow] = {}
    firsts: dict[str, int] = {}
    todo = [r for r in rows if r.values.get("kind") != "sla_credit"] + \
        [r for r in rows if r.values.get("kind") == "sla_credit"]
    existing: dict[str, ArrangementRow] = _imported(run, "arrangement", ArrangementRow)
    retainers_of: dict[int, bool] = {}
    made: list[tuple[_Row, ArrangementRow, Terms, ClientRow]] = []
    batch: list[tuple[_Row, ArrangementRow, Terms, ClientRow]] = []
    for i, row in enumerate(todo, 1):
        if i % 500 == 0:
            step("Checking arrangements", 500)
        if row.values.get("kind") == "sla_credit" and batch:
            _write_arrangements(run, batch)  # the retainers get their ids before credits refer to them
            made += batch
            batch = []
        if _seen(run, row, "arrangement", firsts):
            continue
        client = _client_for(run, row, clients, "client_external_id")
        data = _nest(row, ARRANGEMENT_COLUMNS, skip=("retainer_external_id",))
        retainer: ArrangementRow | None = None
        ret_ext = row.values.get("retainer_external_id")
        if ret_ext:
            retainer = out.get(ret_ext) or existing.get(ret_ext)
            if retainer is None:
                line = run.failed["arrangement"].get(ret_ext)
                run.problem(row, "arrangements", "retainer_external_id",
                            f"its retainer {ret_ext!r} (line {line}) cannot be imported" if line else
                            f"no arrangement with the external_id {ret_ext!r}",
                            "Fix that retainer's row first" if line else
                            "Give the external_id of the client's retainer (in this file or imported before)")
            else:
                data["retainer_arrangement_id"] = retainer.id
        try:
            terms = parse_terms(data)
            if client is not None:
                cid = client.id

                def has_retainer(cid: int = cid) -> bool:
                    if cid not in retainers_of:
                        retainers_of[cid] = any(a.kind == "retainer" for a in uow.arrangements.for_client(cid))
                    return retainers_of[cid]

                check_arrangement(terms, client, (retainer.client_id, retainer.kind) if retainer else None,
                                  has_retainer)
        except BillingError as e:
            _refused(run, row, e, "kind", row.values.get("kind", ""))
            run.failed["arrangement"][row.external_id] = row.line
            continue
        if client is None or (ret_ext and retainer is None):
            run.failed["arrangement"][row.external_id] = row.line
            continue
        a = new_arrangement_row(uow, client.id, terms)
        if terms.kind == "retainer":
            retainers_of[client.id] = True
        out[row.external_id] = a
        batch.append((row, a, terms, client))
    step("Checking arrangements", len(rows) % 500)
    _write_arrangements(run, batch)
    made += batch
    run.counts["arrangements"]["new"] = len(made)
    for row, a, _terms, _client in made:
        run.new_keys.append(("arrangement", row.external_id, a, row.values))
    return {**existing, **out}


def _write_arrangements(run: _Run, batch: list[tuple[_Row, ArrangementRow, Terms, ClientRow]]) -> None:
    uow = run.uow
    _add(uow, [a for _, a, _, _ in batch])
    milestones = {id(a): new_milestone_rows(a, client, terms) for _, a, terms, client in batch}
    _add(uow, [m for ms in milestones.values() for m in ms])
    _insert(uow, [version_one(uow, a, run.actor) for _, a, terms, _ in batch if terms.kind != "milestone"])
    for _, a, _, _ in batch if not run.dry_run else ():
        view = ArrangementView.of(a, [MilestoneView.of(m) for m in milestones[id(a)]])
        uow.audit.record(run.actor, "arrangement.created", "arrangement", a.id, after=view.model_dump(mode="json"))


def _time(run: _Run, rows: list[_Row], clients: Mapping[str, ClientRow], arrangements: Mapping[str, ArrangementRow],
          step: Callable[[str, int], None]) -> int:
    uow = run.uow
    firsts: dict[str, int] = {}
    users: dict[str, int | None] = {}
    made: list[tuple[_Row, TimeEntryRow]] = []
    refs: set[str] = set()
    for i, row in enumerate(rows, 1):
        if i % 500 == 0:
            step("Checking time", 500)
        if _seen(run, row, "time", firsts):
            continue
        client = _client_for(run, row, clients, "client_external_id")
        data = _nest(row, TIME_COLUMNS, skip=("client_external_id", "arrangement_external_id"))
        arr_ext = row.values.get("arrangement_external_id")
        arrangement = arrangements.get(arr_ext) if arr_ext else None
        if arr_ext and arrangement is None:
            line = run.failed["arrangement"].get(arr_ext)
            run.problem(row, "time", "arrangement_external_id",
                        f"its arrangement {arr_ext!r} (arrangements.csv line {line}) cannot be imported" if line
                        else f"no arrangement with the external_id {arr_ext!r}",
                        "Fix that arrangement's row first" if line else
                        "Give the external_id of a time_and_materials arrangement of the client, or leave it empty")
            continue
        if client is None:
            continue
        data["client_id"] = client.id
        if arrangement is not None:
            data["arrangement_id"] = arrangement.id
        try:
            entry = parse_input(TimeEntryIn, data)
            client_row, person, centi = _check_time(uow, run.actor, entry)
        except BillingError as e:
            _refused(run, row, e, "hours")
            continue
        if entry.external_ref is not None:
            if entry.external_ref in refs or uow.session.execute(select(TimeEntryRow.id).where(
                    TimeEntryRow.external_ref == entry.external_ref)).first() is not None:
                run.problem(row, "time", "external_ref", f"another time entry has the external_ref "
                            f"{entry.external_ref!r}", "Give each entry its own external_ref (or none)")
                continue
            refs.add(entry.external_ref)
        if person not in users:
            u = uow.users.by_email(person)
            users[person] = u.id if u else None
        made.append((row, TimeEntryRow(
            client_id=client_row.id, arrangement_id=entry.arrangement_id, user_id=users[person], person=person,
            role=entry.role, day=entry.date, hours_centi=centi, description=entry.description,
            external_ref=entry.external_ref, created_at=uow.clock.now())))
    step("Checking time", len(rows) % 500)
    _insert(uow, [t for _, t in made])
    run.counts["time"]["new"] = len(made)
    for row, t in made:
        run.new_keys.append(("time", row.external_id, t, row.values))
        if not run.dry_run:
            uow.audit.record(run.actor, "time.logged", "time_entry", t.id,
                             after=TimeEntryView.of(t).model_dump(mode="json"))
    return len(made)


def _remember(run: _Run, digest: str) -> None:
    """What each row became, for the next run of the same files (one executemany)."""
    now = run.uow.clock.now()
    values = [{"kind": kind, "external_id": ext, "subject_id": int(obj.id), "row": dict(row), "import_digest": digest,
               "created_at": now} for kind, ext, obj, row in run.new_keys]
    if values:
        table = cast(Table, ImportKeyRow.__table__)
        run.uow.session.execute(insert(table), values)  # Core: no ORM bookkeeping to pay

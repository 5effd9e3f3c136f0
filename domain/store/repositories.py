"""Repositories: every query the services need, so services never touch a Session."""

from __future__ import annotations

import builtins
import functools
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ARRAY, Table, and_, any_, bindparam, delete, func, insert, not_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, lazyload

from domain.store.tables import (
    ArrangementAdjustmentRow,
    ArrangementRow,
    ArrangementVersionRow,
    AuditHeadRow,
    AuditRow,
    BillingClaimRow,
    ClientManagerRow,
    ClientRow,
    EventRow,
    ExpenseRow,
    IdempotencyKeyRow,
    InvoiceDeliveryRow,
    InvoiceLineRow,
    InvoiceReminderRow,
    InvoiceRow,
    JobRow,
    MilestoneRow,
    NumberCounterRow,
    OutboxRow,
    ParkedPaymentRow,
    PaymentRow,
    PilotClientRow,
    RuleSetRow,
    SlaBreachRow,
    TimeEntryRow,
    UserRow,
    WorkspaceRow,
)

# Session.info keys of a worker's batch (domain.services.jobs): nested use cases do not flush at their commit, and
# new rows of the tables in ID_POOL take ids reserved for the batch instead of being inserted one by one for them.
DEFER_FLUSH = "billable.defer_flush"
ID_POOL = "billable.id_pool"


def table_of(entity: type[Any]) -> Table:
    """The Core table of an entity: `insert(table)` is a plain executemany, without the ORM's bulk bookkeeping."""
    return cast(Table, entity.__table__)


def among(s: Session, col: Any, ids: Iterable[int]) -> Any:
    """`col IN ids`; on PostgreSQL `col = ANY(one array parameter)`.

    A month-end batch asks a dozen questions about 500 clients: an expanded IN list is a statement with 500
    placeholders, too long for psycopg's statement cache, so psycopg re-parsed each one in Python (0.9 s of CPU per
    2,000 clients) and dumped 500 parameters; one array parameter keeps the statement short and the same for
    every batch size."""
    ids = list(ids)
    if s.get_bind().dialect.name == "postgresql":
        return col == any_(bindparam(None, ids, type_=ARRAY(col.type)))
    return col.in_(ids)


DRAFTING_LOCK = 0x62696C6C  # our key space for a client's drafting lock (pg_advisory_xact_lock(space, client))


class _Repo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def _among(self, col: Any, ids: Iterable[int]) -> Any:
        return among(self.s, col, ids)

    def add(self, row: Any) -> Any:
        self.s.add(row)
        self.s.flush()
        return row


class Workspace(_Repo):
    def lock(self) -> WorkspaceRow:
        """The workspace row, locked until commit: serialises once-a-day work between processes."""
        row = self.s.execute(select(WorkspaceRow).where(WorkspaceRow.id == 1).with_for_update()).scalar_one_or_none()
        return row if row is not None else self.get()

    def get(self) -> WorkspaceRow:
        row = self.s.get(WorkspaceRow, 1)
        if row is None:
            row = WorkspaceRow(id=1)
            self.s.add(row)
            self.s.flush()
        # Held for the unit of work: the session's identity map holds rows weakly, so without this every get()
        # (three per invoice a worker drafts) was a query again once the caller had let the row go.
        self._row = row
        return row


class Users(_Repo):
    def __init__(self, session: Session) -> None:
        super().__init__(session)
        # Lookups by e-mail, for this transaction (the repository lives as long as it): a worker's batch logs
        # hundreds of entries for the same few people.
        self._by_email: dict[str, UserRow | None] = {}

    def get(self, user_id: int) -> UserRow | None:
        return self.s.get(UserRow, user_id)

    def add(self, row: Any) -> Any:
        self._by_email.clear()
        return super().add(row)

    def by_email(self, email: str) -> UserRow | None:
        key = email.lower()
        if key in self._by_email:
            hit = self._by_email[key]
            if hit is not None and hit in self.s and not self.s.is_modified(hit) and hit.email.lower() == key:
                return hit
            if hit is None and not any(isinstance(o, UserRow) for o in (*self.s.new, *self.s.dirty)):
                return None  # nobody has been given this address since
        row = self.s.execute(select(UserRow).where(func.lower(UserRow.email) == key)).scalar_one_or_none()
        self._by_email[key] = row
        return row

    def by_token_hash(self, token_hash: str) -> UserRow | None:
        return self.s.execute(select(UserRow).where(UserRow.token_hash == token_hash)).scalar_one_or_none()

    def list(self) -> Sequence[UserRow]:
        return self.s.execute(select(UserRow).order_by(UserRow.id)).scalars().all()

    def active_owners(self) -> int:
        return int(self.s.execute(select(func.count()).select_from(UserRow).where(
            UserRow.role == "owner", UserRow.active.is_(True))).scalar_one())

    def managed_client_ids(self, user_id: int) -> frozenset[int]:
        rows = self.s.execute(select(ClientManagerRow.client_id).where(ClientManagerRow.user_id == user_id))
        return frozenset(rows.scalars().all())


class Clients(_Repo):
    def get(self, client_id: int) -> ClientRow | None:
        return self.s.get(ClientRow, client_id)

    def by_external_ref(self, ref: str) -> ClientRow | None:
        return self.s.execute(select(ClientRow).where(ClientRow.external_ref == ref)).scalar_one_or_none()

    def by_external_refs(self, refs: Sequence[str]) -> Sequence[ClientRow]:
        return self.s.execute(select(ClientRow).where(ClientRow.external_ref.in_(refs))).scalars().all()

    def get_many(self, client_ids: Sequence[int], managers: bool = True) -> Sequence[ClientRow]:
        """The clients, by id; `managers=False`: their account managers are read only if asked for (a billing
        run never does: one statement less per batch, with an IN list of the batch the ORM builds itself)."""
        q = select(ClientRow).where(self._among(ClientRow.id, client_ids)).order_by(ClientRow.id)
        if not managers:
            q = q.options(lazyload(ClientRow.managers))
        return self.s.execute(q).scalars().all()

    def ids(self, only_ids: frozenset[int] | None = None, billable_only: bool = False) -> list[int]:
        q = select(ClientRow.id).order_by(ClientRow.id)
        if only_ids is not None:
            q = q.where(self._among(ClientRow.id, only_ids))
        if billable_only:  # archived clients get no new drafts
            q = q.where(ClientRow.archived_at.is_(None))
        return [int(i) for i in self.s.execute(q).scalars().all()]

    def list(self, only_ids: frozenset[int] | None = None, name_like: str | None = None,
             limit: int = 100, offset: int = 0, include_archived: bool = True) -> Sequence[ClientRow]:
        q = select(ClientRow).order_by(ClientRow.name, ClientRow.id)
        if only_ids is not None:
            q = q.where(self._among(ClientRow.id, only_ids))
        if not include_archived:
            q = q.where(ClientRow.archived_at.is_(None))
        if name_like:
            q = q.where(func.lower(ClientRow.name).contains(name_like.lower()))
        return self.s.execute(q.limit(limit).offset(offset)).scalars().all()

    def refs(self, only_ids: frozenset[int] | None = None, name_like: str | None = None,
             limit: int = 100) -> builtins.list[tuple[int, str, str]]:
        """(id, name, currency) of the clients `list` gives (archived ones too), without loading the rows and their
        account managers: for pickers and names beside invoices."""
        q = select(ClientRow.id, ClientRow.name, ClientRow.currency).order_by(ClientRow.name, ClientRow.id)
        if only_ids is not None:
            q = q.where(ClientRow.id.in_(only_ids))
        if name_like:
            q = q.where(func.lower(ClientRow.name).contains(name_like.lower()))
        return [(int(i), str(n), str(c)) for i, n, c in self.s.execute(q.limit(limit)).all()]

    def set_managers(self, client_id: int, user_ids: Sequence[int]) -> None:
        self.s.execute(delete(ClientManagerRow).where(ClientManagerRow.client_id == client_id))
        for uid in dict.fromkeys(user_ids):
            self.s.add(ClientManagerRow(client_id=client_id, user_id=uid))
        self.s.flush()


class Arrangements(_Repo):
    def get(self, arrangement_id: int) -> ArrangementRow | None:
        return self.s.get(ArrangementRow, arrangement_id)

    def get_many(self, arrangement_ids: Sequence[int]) -> Sequence[ArrangementRow]:
        if not arrangement_ids:
            return []
        return self.s.execute(select(ArrangementRow).where(ArrangementRow.id.in_(arrangement_ids))
                              .order_by(ArrangementRow.id)).scalars().all()

    def for_client(self, client_id: int, active_only: bool = True) -> Sequence[ArrangementRow]:
        q = select(ArrangementRow).where(ArrangementRow.client_id == client_id).order_by(ArrangementRow.id)
        if active_only:
            q = q.where(ArrangementRow.active.is_(True))
        return self.s.execute(q).scalars().all()

    def for_clients(self, client_ids: Sequence[int]) -> Sequence[ArrangementRow]:
        """Active arrangements of several clients, in creation order."""
        return self.s.execute(select(ArrangementRow).where(self._among(ArrangementRow.client_id, client_ids),
                                                           ArrangementRow.active.is_(True))
                              .order_by(ArrangementRow.id)).scalars().all()

    def milestones(self, arrangement_id: int) -> Sequence[MilestoneRow]:
        return self.s.execute(select(MilestoneRow).where(MilestoneRow.arrangement_id == arrangement_id)
                              .order_by(MilestoneRow.id)).scalars().all()

    def milestones_for(self, arrangement_ids: Sequence[int]) -> Sequence[MilestoneRow]:
        """The milestones of several arrangements, by arrangement then id (a client's page in one statement)."""
        if not arrangement_ids:
            return []
        return self.s.execute(select(MilestoneRow).where(MilestoneRow.arrangement_id.in_(arrangement_ids))
                              .order_by(MilestoneRow.arrangement_id, MilestoneRow.id)).scalars().all()

    def milestone(self, milestone_id: int) -> MilestoneRow | None:
        return self.s.get(MilestoneRow, milestone_id)

    def milestone_by_ref(self, ref: str) -> MilestoneRow | None:
        return self.s.execute(select(MilestoneRow).where(MilestoneRow.external_ref == ref)).scalar_one_or_none()

    # ---- versions and adjustments (issue 13)

    def versions_for(self, arrangement_ids: Sequence[int], statuses: Sequence[str] = ("active",),
                     ) -> Sequence[ArrangementVersionRow]:
        if not arrangement_ids:
            return []
        return self.s.execute(select(ArrangementVersionRow).where(
            self._among(ArrangementVersionRow.arrangement_id, arrangement_ids),
            ArrangementVersionRow.status.in_(statuses))
            .order_by(ArrangementVersionRow.arrangement_id, ArrangementVersionRow.effective_on,
                      ArrangementVersionRow.number)).scalars().all()

    def version(self, version_id: int, for_update: bool = False) -> ArrangementVersionRow | None:
        q = select(ArrangementVersionRow).where(ArrangementVersionRow.id == version_id)
        if for_update:
            q = q.with_for_update()
        return self.s.execute(q).scalar_one_or_none()

    def lock(self, arrangement_id: int) -> ArrangementRow | None:
        """The arrangement, locked until commit: amendments of one arrangement take turns (version numbers)."""
        return self.s.execute(select(ArrangementRow).where(ArrangementRow.id == arrangement_id).with_for_update()
                              ).scalar_one_or_none()

    def proposals(self, only_client_ids: frozenset[int] | None = None) -> Sequence[ArrangementVersionRow]:
        q = select(ArrangementVersionRow).where(ArrangementVersionRow.status == "proposed")
        if only_client_ids is not None:
            q = q.join(ArrangementRow, ArrangementRow.id == ArrangementVersionRow.arrangement_id).where(
                ArrangementRow.client_id.in_(only_client_ids))
        return self.s.execute(q.order_by(ArrangementVersionRow.id)).scalars().all()

    def adjustments_for(self, arrangement_ids: Sequence[int]) -> Sequence[ArrangementAdjustmentRow]:
        """The adjustments of several arrangements, in id order."""
        if not arrangement_ids:
            return []
        return self.s.execute(select(ArrangementAdjustmentRow).where(
            ArrangementAdjustmentRow.arrangement_id.in_(arrangement_ids)).order_by(ArrangementAdjustmentRow.id)
        ).scalars().all()

    def adjustments(self, arrangement_id: int) -> Sequence[ArrangementAdjustmentRow]:
        return self.s.execute(select(ArrangementAdjustmentRow).where(
            ArrangementAdjustmentRow.arrangement_id == arrangement_id).order_by(ArrangementAdjustmentRow.id)
        ).scalars().all()

    def unbilled_adjustments_for(self, client_ids: Sequence[int]) -> Sequence[ArrangementAdjustmentRow]:
        return self.s.execute(select(ArrangementAdjustmentRow).where(
            self._among(ArrangementAdjustmentRow.client_id, client_ids),
            ArrangementAdjustmentRow.disposition == "next_invoice",
            _unclaimed("adjustment", ArrangementAdjustmentRow.id)).order_by(ArrangementAdjustmentRow.id)
        ).scalars().all()

    def adjustment(self, adjustment_id: int) -> ArrangementAdjustmentRow | None:
        return self.s.get(ArrangementAdjustmentRow, adjustment_id)

    def period_line_rates(self, arrangement_id: int, period_key: str) -> builtins.list[tuple[int, int, str]]:
        """(invoice id, amount, tax rate) of the lines that billed one period of an arrangement (standing invoices)."""
        rows = self.s.execute(select(InvoiceLineRow.invoice_id, InvoiceLineRow.amount_minor, InvoiceLineRow.tax_rate,
                                     InvoiceLineRow.source)
                              .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
                              .where(InvoiceLineRow.arrangement_id == arrangement_id,
                                     InvoiceRow.status != "void", InvoiceRow.kind == "invoice")).all()
        return [(int(i), int(a), str(r)) for i, a, r, s in rows if (s or {}).get("period") == period_key]

    def period_lines_by_period(self, arrangement_id: int) -> dict[str, builtins.list[tuple[int, int, dict[str, Any]]]]:
        """(invoice id, amount in minor units, source) of the lines that billed each period of an arrangement, on
        invoices that stand (not void, not credit notes): period key -> its lines."""
        rows = self.s.execute(select(InvoiceLineRow.invoice_id, InvoiceLineRow.amount_minor, InvoiceLineRow.source)
                              .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
                              .where(InvoiceLineRow.arrangement_id == arrangement_id,
                                     InvoiceRow.status != "void", InvoiceRow.kind == "invoice",
                                     InvoiceLineRow.section.in_(("retainer", "subscription")))).all()
        out: dict[str, builtins.list[tuple[int, int, dict[str, Any]]]] = {}
        for i, a, src in rows:
            key = (src or {}).get("period")
            if isinstance(key, str):
                out.setdefault(key, []).append((int(i), int(a), dict(src)))
        return out

    def billed_time_lines(self, arrangement_id: int) -> Sequence[tuple[int, int, str, int, int, dict[str, Any]]]:
        """(invoice id, position, quantity, unit price, amount in minor units, source) of the time lines an
        arrangement billed at a rate, on invoices that stand (not void, not credit notes)."""
        rows = self.s.execute(select(InvoiceLineRow.invoice_id, InvoiceLineRow.position, InvoiceLineRow.quantity,
                                     InvoiceLineRow.unit_price_minor, InvoiceLineRow.amount_minor,
                                     InvoiceLineRow.source)
                              .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
                              .where(InvoiceLineRow.arrangement_id == arrangement_id, InvoiceLineRow.section == "time",
                                     InvoiceLineRow.unit == "h", InvoiceRow.status != "void",
                                     InvoiceRow.kind == "invoice")
                              .order_by(InvoiceLineRow.invoice_id, InvoiceLineRow.position)).all()
        return [(int(i), int(p), str(q), int(u), int(a), dict(s or {})) for i, p, q, u, a, s in rows]


def _unclaimed(kind: str, id_col: Any) -> Any:
    """No claim on this row, as one probe of the claims' unique key per candidate row.

    A scalar subquery (the key is unique: one row or none), not NOT EXISTS: PostgreSQL turns NOT EXISTS into an
    anti-join planned from the claims table's statistics, and with none yet (a fresh database, autovacuum off or
    not yet run) it chose a nested loop over every claim of the kind for every candidate row: 0.5 s per month-end
    batch of 500 clients at 10,000, growing with each batch. A scalar subquery is never flattened into a join, so
    the plan stays an index probe per row whatever the statistics say (and never a scan of all past claims)."""
    return select(BillingClaimRow.ref_id).where(BillingClaimRow.kind == kind, BillingClaimRow.ref_id == id_col,
                                                BillingClaimRow.period_key == "").scalar_subquery().is_(None)


class Work(_Repo):
    """Recorded work: time entries, expenses, completed milestones and SLA breaches."""

    def add(self, row: Any) -> Any:
        """Insert a new row (flushed at once, for its id), or, in a worker's batch with ids reserved for its table,
        give it one and leave it to the batch's next flush: a batch of time events then writes its entries in one
        executemany instead of one INSERT ... RETURNING each."""
        pool = self.s.info.get(ID_POOL, {}).get(row.__tablename__)
        if pool and getattr(row, "id", None) is None:
            row.id = pool.pop()
            self.s.add(row)
            return row
        return super().add(row)

    def time_entry(self, entry_id: int) -> TimeEntryRow | None:
        return self.s.get(TimeEntryRow, entry_id)

    def time_entries_by_ids(self, entry_ids: Sequence[int]) -> Sequence[TimeEntryRow]:
        if not entry_ids:
            return []
        return self.s.execute(select(TimeEntryRow).where(self._among(TimeEntryRow.id, entry_ids))).scalars().all()

    def time_entry_by_ref(self, ref: str) -> TimeEntryRow | None:
        return self.s.execute(select(TimeEntryRow).where(TimeEntryRow.external_ref == ref)).scalar_one_or_none()

    def time_entries_by_refs(self, refs: Sequence[str]) -> Sequence[TimeEntryRow]:
        return self.s.execute(select(TimeEntryRow).where(TimeEntryRow.external_ref.in_(refs))).scalars().all()

    def time_entries(self, client_id: int | None = None, user_id: int | None = None,
                     only_client_ids: frozenset[int] | None = None, limit: int = 200,
                     offset: int = 0) -> Sequence[TimeEntryRow]:
        q = select(TimeEntryRow).order_by(TimeEntryRow.day.desc(), TimeEntryRow.id.desc())
        if client_id is not None:
            q = q.where(TimeEntryRow.client_id == client_id)
        if user_id is not None:
            q = q.where(TimeEntryRow.user_id == user_id)
        if only_client_ids is not None:
            q = q.where(TimeEntryRow.client_id.in_(only_client_ids))
        return self.s.execute(q.limit(limit).offset(offset)).scalars().all()

    def claimed_by(self, kind: str, ref_ids: Sequence[int]) -> dict[int, int]:
        """`is_claimed` of many things of one kind (no period key): ref id -> the invoice that billed it."""
        if not ref_ids:
            return {}
        rows = self.s.execute(select(BillingClaimRow.ref_id, BillingClaimRow.invoice_id).where(
            BillingClaimRow.kind == kind, BillingClaimRow.ref_id.in_(ref_ids), BillingClaimRow.period_key == ""))
        return {int(r): int(i) for r, i in rows.all()}

    def is_claimed(self, kind: str, ref_id: int, period_key: str = "") -> int | None:
        return self.s.execute(select(BillingClaimRow.invoice_id).where(
            BillingClaimRow.kind == kind, BillingClaimRow.ref_id == ref_id,
            BillingClaimRow.period_key == period_key)).scalar_one_or_none()

    def unbilled_time_for(self, client_ids: Sequence[int], through: date) -> Sequence[TimeEntryRow]:
        return self.s.execute(select(TimeEntryRow).where(
            self._among(TimeEntryRow.client_id, client_ids), TimeEntryRow.day <= through,
            _unclaimed("time", TimeEntryRow.id))
            .order_by(TimeEntryRow.day, TimeEntryRow.id)).scalars().all()

    def unbilled_hours(self, client_id: int, through: date) -> tuple[date | None, int]:
        """(first day, hundredths of hours) of a client's unbilled time up to a day: one aggregate, no rows."""
        first, centi = self.s.execute(select(func.min(TimeEntryRow.day), func.sum(TimeEntryRow.hours_centi)).where(
            TimeEntryRow.client_id == client_id, TimeEntryRow.day <= through, _unclaimed("time", TimeEntryRow.id))
        ).one()
        return first, int(centi or 0)

    def unbilled_hours_many(self, client_ids: Sequence[int], through: date) -> dict[int, tuple[date | None, int]]:
        """`unbilled_hours` of several clients in one aggregate (a worker's batch of time events)."""
        out: dict[int, tuple[date | None, int]] = {c: (None, 0) for c in client_ids}
        if client_ids:
            for cid, first, centi in self.s.execute(
                    select(TimeEntryRow.client_id, func.min(TimeEntryRow.day), func.sum(TimeEntryRow.hours_centi))
                    .where(self._among(TimeEntryRow.client_id, client_ids), TimeEntryRow.day <= through,
                           _unclaimed("time", TimeEntryRow.id)).group_by(TimeEntryRow.client_id)).all():
                out[int(cid)] = (first, int(centi or 0))
        return out

    def unbilled_expenses_for(self, client_ids: Sequence[int], through: date) -> Sequence[ExpenseRow]:
        return self.s.execute(select(ExpenseRow).where(
            self._among(ExpenseRow.client_id, client_ids), ExpenseRow.day <= through,
            _unclaimed("expense", ExpenseRow.id))
            .order_by(ExpenseRow.day, ExpenseRow.id)).scalars().all()

    def unbilled_milestones_for(self, client_ids: Sequence[int], through: date) -> Sequence[MilestoneRow]:
        return self.s.execute(select(MilestoneRow).where(
            self._among(MilestoneRow.client_id, client_ids), MilestoneRow.completed_on.is_not(None),
            MilestoneRow.cancelled_on.is_(None),
            MilestoneRow.completed_on <= through, _unclaimed("milestone", MilestoneRow.id))
            .order_by(MilestoneRow.completed_on, MilestoneRow.id)).scalars().all()

    def unbilled_breaches_for(self, client_ids: Sequence[int], through: date) -> Sequence[SlaBreachRow]:
        return self.s.execute(select(SlaBreachRow).where(
            self._among(SlaBreachRow.client_id, client_ids), SlaBreachRow.occurred_on <= through,
            _unclaimed("breach", SlaBreachRow.id)).order_by(SlaBreachRow.occurred_on, SlaBreachRow.id)
        ).scalars().all()

    def expense(self, expense_id: int) -> ExpenseRow | None:
        return self.s.get(ExpenseRow, expense_id)

    def breach(self, breach_id: int) -> SlaBreachRow | None:
        return self.s.get(SlaBreachRow, breach_id)


class Claims(_Repo):
    def claim_many(self, rows: list[tuple[str, int, str, int]]) -> bool:
        """Claim (kind, ref id, period key, invoice id) rows at once; False (nothing written) if any is taken."""
        if not rows:
            return True
        try:
            with self.s.begin_nested():
                # The table, not the entity: one statement, without the ORM's bulk-insert bookkeeping.
                insert_rows(self.s, table_of(BillingClaimRow), [
                    {"kind": k, "ref_id": r, "period_key": p, "invoice_id": i} for k, r, p, i in rows])
        except IntegrityError:
            return False
        return True

    def claimed_periods(self, arrangement_ids: Sequence[int]) -> Sequence[tuple[int, str]]:
        if not arrangement_ids:
            return []
        rows = self.s.execute(select(BillingClaimRow.ref_id, BillingClaimRow.period_key).where(
            BillingClaimRow.kind == "period", self._among(BillingClaimRow.ref_id, arrangement_ids))).all()
        return [(int(r), str(p)) for r, p in rows]

    def period_invoices(self, arrangement_id: int) -> dict[str, int]:
        """The periods of an arrangement already billed: period key -> the invoice that claimed it."""
        rows = self.s.execute(select(BillingClaimRow.period_key, BillingClaimRow.invoice_id).where(
            BillingClaimRow.kind == "period", BillingClaimRow.ref_id == arrangement_id)).all()
        return {str(p): int(i) for p, i in rows}

    def release(self, invoice_id: int) -> int:
        res = self.s.execute(delete(BillingClaimRow).where(BillingClaimRow.invoice_id == invoice_id))
        return int(res.rowcount or 0)  # type: ignore[attr-defined]

    def for_invoice(self, invoice_id: int) -> Sequence[BillingClaimRow]:
        return self.s.execute(select(BillingClaimRow).where(BillingClaimRow.invoice_id == invoice_id)).scalars().all()


def _overdue(today: date) -> Any:
    """Overdue, as SQL: open (not written off), due before today, money still owed. Never NULL (so NOT works)."""
    return and_(InvoiceRow.status.in_(("issued", "sent", "viewed", "partially_paid")),
                InvoiceRow.due_date.is_not(None), InvoiceRow.due_date < today,
                InvoiceRow.total_minor - InvoiceRow.paid_minor - InvoiceRow.credited_minor > 0)


def _row_values(row: Any, table: Table) -> dict[str, Any]:
    """A transient ORM row's column values as Core parameters, as the ORM's flush would write them: a column never
    set is left out, so the statement applies its default, or SQL NULL (also for JSON columns, where a None would
    be written as JSON null)."""
    state = row.__dict__
    return {k: state[k] for k in _column_keys(table) if k in state}


@functools.cache
def _column_keys(table: Table) -> tuple[str, ...]:
    # Walking a Table's ColumnCollection per row was a fifth of insert_new's own time.
    return tuple(col.key for col in table.columns)


def insert_rows(s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert new rows (no RETURNING) in as few statements as can be: one per set of columns given (a row that
    leaves a column out gets its default or NULL); on PostgreSQL one COPY each, elsewhere one executemany."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(frozenset(r), []).append(r)
    for group in groups.values():
        if not _write_bound(s, table, group):
            s.execute(insert(table), group)


def _bound(s: Session, table: Table, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]] | None:
    """The column names and each row's values as Core's executemany would bind them: the columns' Python-side
    defaults for the columns left out, each type's bind processing (UTC datetimes, JSON, a JSON null for None).
    None when a column left out has a default only SQL can compute."""
    dialect = s.get_bind().dialect
    keys = list(rows[0])
    filled: list[tuple[str, Any]] = []
    for col in table.columns:
        if col.key in rows[0] or col.default is None or getattr(col.default, "is_sequence", False):
            continue
        if col.default.is_scalar:
            filled.append((col.key, col.default.arg))  # type: ignore[attr-defined]
        elif col.default.is_callable:
            filled.append((col.key, col.default.arg(None)))  # type: ignore[attr-defined]
        else:
            return None
    names = [*keys, *(k for k, _ in filled)]
    procs = [table.c[k].type._cached_bind_processor(dialect) for k in names]
    extra = [v for _, v in filled]
    out = []
    for r in rows:
        values = [r[k] for k in keys]
        values.extend(extra)
        out.append([p(v) if p is not None else v for p, v in zip(procs, values, strict=True)])
    return names, out


def _write_bound(s: Session, table: Table, rows: list[dict[str, Any]]) -> bool:
    """Write rows that all give the same columns with their values bound as Core would bind them (`_bound`), the
    server's default or NULL for the rest: on PostgreSQL one COPY ... FROM STDIN, on SQLite one DB-API
    executemany, either without Core's per-row parameter compilation. False (nothing written) when a column left
    out has a default only SQL can compute: the caller inserts those rows.

    A month-end batch of 500 invoices writes 500 invoices, 2,000 lines, 1,000 audit entries and 500 outbox
    messages: COPY takes a third of the client CPU of a pipelined executemany (psycopg formats the rows in C, no
    per-row statement) and less of the server's; on SQLite Core's parameter compilation was most of the batch's
    write time."""
    bound = _bound(s, table, rows)
    if bound is None:
        return False
    names, values = bound
    conn = s.connection()
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    target = (f"{dialect.identifier_preparer.format_table(table)} "
              f"({', '.join(quote(table.c[k].name) for k in names)})")
    dbapi = dialect.loaded_dbapi
    pg = dialect.name == "postgresql"
    sql = f"COPY {target} FROM STDIN" if pg else f"INSERT INTO {target} VALUES ({', '.join('?' * len(names))})"
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if pg:
            with cur.copy(sql) as copy:
                for row in values:
                    copy.write_row(row)
        else:
            cur.executemany(sql, values)
    except dbapi.Error as e:
        # As the executemany would raise it (IntegrityError, ...), so callers handle both paths alike.
        raise DBAPIError.instance(sql, None, e, dbapi.Error, dialect=dialect) from e
    finally:
        cur.close()
    return True


class Invoices(_Repo):
    def lock_drafting(self, client_id: int) -> bool:
        """Hold the client's drafting lock until the transaction ends (PostgreSQL; SQLite's one writer needs none):
        a second drafter waits for the first one's commit and then finds its draft, instead of missing it. True
        when a lock was taken (so what was read before it may be stale)."""
        if self.s.get_bind().dialect.name != "postgresql":
            return False
        self.s.execute(text("SELECT pg_advisory_xact_lock(:space, :client)"),
                       {"space": DRAFTING_LOCK, "client": client_id})
        return True

    def insert_new(self, invoices: Sequence[InvoiceRow]) -> None:
        """Write new invoices and their lines (built as ORM rows, never added to the session) with two Core
        executemany statements: the ids must be assigned already (`UnitOfWork.preassign_ids`). A month-end run
        writes thousands per batch; the ORM's unit-of-work bookkeeping was most of its Python time."""
        if not invoices:
            return
        inv_table, line_table = table_of(InvoiceRow), table_of(InvoiceLineRow)
        rows, lines = [], []
        for inv in invoices:
            assert inv.id is not None, "insert_new needs preassigned ids"
            rows.append(_row_values(inv, inv_table))
            for ln in inv.lines:
                assert ln.id is not None, "insert_new needs preassigned ids"
                values = _row_values(ln, line_table)
                values["invoice_id"] = inv.id
                lines.append(values)
        insert_rows(self.s, inv_table, rows)
        if lines:
            insert_rows(self.s, line_table, lines)

    def overdue_oldest_first(self, today: date, limit: int) -> Sequence[InvoiceRow]:
        """Overdue invoices, longest overdue first (the digest lists these)."""
        return self.s.execute(select(InvoiceRow).options(lazyload(InvoiceRow.lines)).where(
            InvoiceRow.kind == "invoice", _overdue(today)).order_by(InvoiceRow.due_date, InvoiceRow.id)
            .limit(limit)).scalars().all()

    def overdue_totals(self, today: date) -> dict[str, tuple[int, int]]:
        """Per currency: how many invoices are overdue and the balance they owe, in minor units."""
        balance = InvoiceRow.total_minor - InvoiceRow.paid_minor - InvoiceRow.credited_minor
        rows = self.s.execute(select(InvoiceRow.currency, func.count(), func.sum(balance)).where(
            InvoiceRow.kind == "invoice", _overdue(today)).group_by(InvoiceRow.currency)).all()
        return {str(c): (int(n), int(b or 0)) for c, n, b in rows}

    def get(self, invoice_id: int, for_update: bool = False) -> InvoiceRow | None:
        if for_update:
            return self.s.execute(select(InvoiceRow).where(InvoiceRow.id == invoice_id).with_for_update()
                                  ).scalar_one_or_none()
        return self.s.get(InvoiceRow, invoice_id)

    def by_number(self, number: str) -> InvoiceRow | None:
        return self.s.execute(select(InvoiceRow).where(InvoiceRow.number == number)).scalar_one_or_none()

    def list(self, *, client_id: int | None = None, status: Sequence[str] | None = None,
             only_client_ids: frozenset[int] | None = None, overdue_on: date | None = None,
             period_start: date | None = None, period_end: date | None = None, kind: str | None = None,
             number_like: str | None = None, limit: int = 100, offset: int = 0,
             not_overdue_on: date | None = None) -> Sequence[InvoiceRow]:
        q = select(InvoiceRow).order_by(InvoiceRow.id.desc())
        if client_id is not None:
            q = q.where(InvoiceRow.client_id == client_id)
        if only_client_ids is not None:
            q = q.where(InvoiceRow.client_id.in_(only_client_ids))
        if status:
            q = q.where(InvoiceRow.status.in_(status))
        if kind:
            q = q.where(InvoiceRow.kind == kind)
        if overdue_on is not None:
            q = q.where(_overdue(overdue_on))
        if not_overdue_on is not None:
            # in SQL, before the limit: filtering a page afterwards would drop rows and shorten pages
            q = q.where(not_(_overdue(not_overdue_on)))
        if period_start is not None:
            q = q.where(InvoiceRow.period_end >= period_start)
        if period_end is not None:
            q = q.where(InvoiceRow.period_start <= period_end)
        if number_like:
            q = q.where(InvoiceRow.number.contains(number_like))
        return self.s.execute(q.limit(limit).offset(offset)).scalars().all()

    def issued_between(self, first: date, last: date, statuses: Sequence[str]) -> Sequence[InvoiceRow]:
        """Invoices and credit notes issued from `first` to `last`, in number order."""
        return self.s.execute(select(InvoiceRow).where(InvoiceRow.issue_date >= first, InvoiceRow.issue_date <= last,
                                                       InvoiceRow.status.in_(statuses))
                              .order_by(InvoiceRow.issue_date, InvoiceRow.id)).scalars().all()

    def get_many(self, invoice_ids: Sequence[int]) -> Sequence[InvoiceRow]:
        if not invoice_ids:
            return []
        return self.s.execute(select(InvoiceRow).where(self._among(InvoiceRow.id, invoice_ids))).scalars().all()

    def billed_on_arrangements(self, arrangement_ids: Sequence[int]) -> dict[int, int]:
        """What non-void invoices already bill on each arrangement, in minor units (not-to-exceed caps)."""
        if not arrangement_ids:
            return {}
        rows = self.s.execute(select(InvoiceLineRow.arrangement_id, func.sum(InvoiceLineRow.amount_minor))
                              .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
                              .where(self._among(InvoiceLineRow.arrangement_id, arrangement_ids),
                                     InvoiceRow.status != "void",
                                     InvoiceRow.kind == "invoice")
                              .group_by(InvoiceLineRow.arrangement_id)).all()
        return {int(a): int(t or 0) for a, t in rows if a is not None}

    def included_hours_sources(self, client_ids: Sequence[int], since: date, until: date,
                               ) -> builtins.list[dict[str, Any]]:
        """Sources of the included-hours lines of the clients' non-void invoices whose window touches
        [since, until]: what each has used of which retainer period's included hours."""
        rows = self.s.execute(select(InvoiceLineRow.source)
                              .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
                              .where(self._among(InvoiceRow.client_id, client_ids), InvoiceRow.kind == "invoice",
                                     InvoiceRow.status != "void", InvoiceRow.period_end >= since,
                                     InvoiceRow.period_start <= until, InvoiceLineRow.section == "time",
                                     InvoiceLineRow.unit_price_minor == 0, InvoiceLineRow.amount_minor == 0)
                              ).scalars().all()
        return [dict(r) for r in rows if r]

    def sla_credit_lines(self, client_ids: Sequence[int], since: date, until: date,
                         ) -> builtins.list[tuple[dict[str, Any], int, str]]:
        """(source, amount, currency) of the SLA credit lines of the clients' non-void invoices whose window
        touches [since, until]: what was already credited against which retainer period."""
        rows = self.s.execute(select(InvoiceLineRow.source, InvoiceLineRow.amount_minor, InvoiceRow.currency)
                              .join(InvoiceRow, InvoiceRow.id == InvoiceLineRow.invoice_id)
                              .where(self._among(InvoiceRow.client_id, client_ids), InvoiceRow.kind == "invoice",
                                     InvoiceRow.status != "void", InvoiceRow.period_end >= since,
                                     InvoiceRow.period_start <= until, InvoiceLineRow.section == "sla_credit")
                              ).all()
        return [(dict(src or {}), int(amount), str(cur)) for src, amount, cur in rows]

    def open_drafts_for(self, client_ids: Sequence[int], start: date, end: date) -> dict[int, InvoiceRow]:
        rows = self.s.execute(select(InvoiceRow).where(
            self._among(InvoiceRow.client_id, client_ids), InvoiceRow.kind == "invoice",
            InvoiceRow.period_start == start,
            InvoiceRow.period_end == end, InvoiceRow.status.in_(("draft", "pending_approval"))
        ).order_by(InvoiceRow.id.desc())).scalars().all()
        return {r.client_id: r for r in rows}

    def previous_totals(self, client_ids: Sequence[int], before: date) -> dict[int, int]:
        """Each client's latest issued, not void, invoice for a period starting before `before`: its total."""
        ranked = select(InvoiceRow.client_id, InvoiceRow.total_minor, func.row_number().over(
            partition_by=InvoiceRow.client_id,
            order_by=(InvoiceRow.period_start.desc(), InvoiceRow.id.desc())).label("rn")).where(
            self._among(InvoiceRow.client_id, client_ids), InvoiceRow.kind == "invoice", InvoiceRow.number.is_not(None),
            InvoiceRow.status != "void", InvoiceRow.period_start < before).subquery()
        rows = self.s.execute(select(ranked.c.client_id, ranked.c.total_minor).where(ranked.c.rn == 1)).all()
        return {int(c): int(t) for c, t in rows}

    def recent_totals(self, client_ids: Sequence[int], since: datetime) -> dict[int, builtins.list[tuple[int, str]]]:
        """(total, number) of each client's invoices issued since a moment, for duplicate suspicion."""
        out: dict[int, builtins.list[tuple[int, str]]] = {}
        rows = self.s.execute(select(InvoiceRow.client_id, InvoiceRow.total_minor, InvoiceRow.number).where(
            self._among(InvoiceRow.client_id, client_ids), InvoiceRow.kind == "invoice", InvoiceRow.number.is_not(None),
            InvoiceRow.status != "void", InvoiceRow.issued_at >= since)).all()
        for c, t, n in rows:
            out.setdefault(int(c), []).append((int(t), str(n)))
        return out

    def clients_with_issued(self, client_ids: Sequence[int]) -> set[int]:
        rows = self.s.execute(select(InvoiceRow.client_id).where(
            self._among(InvoiceRow.client_id, client_ids), InvoiceRow.kind == "invoice", InvoiceRow.number.is_not(None))
            .distinct()).scalars().all()
        return {int(c) for c in rows}

    def delete(self, row: InvoiceRow) -> None:
        self.s.delete(row)
        self.s.flush()

    def payments(self, invoice_id: int) -> Sequence[PaymentRow]:
        return self.s.execute(select(PaymentRow).where(PaymentRow.invoice_id == invoice_id)
                              .order_by(PaymentRow.id)).scalars().all()

    def credit_notes(self, invoice_id: int) -> Sequence[InvoiceRow]:
        return self.s.execute(select(InvoiceRow).where(InvoiceRow.corrects_invoice_id == invoice_id)
                              .order_by(InvoiceRow.id)).scalars().all()

    def count_by_status(self, only_client_ids: frozenset[int] | None = None) -> dict[str, tuple[int, int]]:
        q = select(InvoiceRow.status, func.count(), func.coalesce(func.sum(InvoiceRow.total_minor), 0)) \
            .where(InvoiceRow.kind == "invoice").group_by(InvoiceRow.status)
        if only_client_ids is not None:
            q = q.where(InvoiceRow.client_id.in_(only_client_ids))
        return {s: (int(n), int(t)) for s, n, t in self.s.execute(q).all()}


class Counters(_Repo):
    def take(self, key: str, count: int) -> int:
        """Reserve `count` consecutive numbers of a series; returns the first. The row stays locked until commit,
        so concurrent issuers queue and a rollback returns the whole block: no gap, no duplicate."""
        ins = pg_insert if self.s.get_bind().dialect.name == "postgresql" else sqlite_insert
        self.s.execute(ins(NumberCounterRow).values(key=key, last_value=0).on_conflict_do_nothing())
        last = self.s.execute(update(NumberCounterRow).where(NumberCounterRow.key == key)
                              .values(last_value=NumberCounterRow.last_value + count)
                              .returning(NumberCounterRow.last_value)).scalar_one()
        return int(last) - count + 1



class AuditLog(_Repo):
    def for_subject(self, subject_type: str | None, subject_id: str | None, limit: int = 200,
                    after_seq: int = 0) -> Sequence[AuditRow]:
        q = select(AuditRow).where(AuditRow.seq > after_seq).order_by(AuditRow.seq)
        if subject_type:
            q = q.where(AuditRow.subject_type == subject_type)
        if subject_id:
            q = q.where(AuditRow.subject_id == subject_id)
        return self.s.execute(q.limit(limit)).scalars().all()

    def first_for_subjects(self, subject_type: str, subject_ids: Sequence[str], limit: int) -> Sequence[AuditRow]:
        """The first `limit` entries (by seq) of each of several subjects, in seq order: `for_subject` of each, in
        one statement however many subjects."""
        if not subject_ids:
            return []
        rank = func.row_number().over(partition_by=AuditRow.subject_id, order_by=AuditRow.seq).label("rank")
        ranked = select(AuditRow.seq, rank).where(AuditRow.subject_type == subject_type,
                                                  AuditRow.subject_id.in_(subject_ids)).subquery()
        return self.s.execute(select(AuditRow).join(ranked, ranked.c.seq == AuditRow.seq)
                              .where(ranked.c.rank <= limit).order_by(AuditRow.seq)).scalars().all()

    def chunk(self, after_seq: int, size: int) -> Sequence[AuditRow]:
        return self.s.execute(select(AuditRow).where(AuditRow.seq > after_seq).order_by(AuditRow.seq)
                              .limit(size)).scalars().all()

    def count(self) -> int:
        return int(self.s.execute(select(func.count()).select_from(AuditRow)).scalar_one())

    def head(self) -> AuditHeadRow | None:
        return self.s.get(AuditHeadRow, 1)

    def first_at(self, action: str, subject_type: str, since: datetime, until: datetime) -> dict[str, datetime]:
        """subject id -> when `action` was first recorded on it within [since, until] (e.g. when it was voided)."""
        rows = self.s.execute(select(AuditRow.subject_id, func.min(AuditRow.at))
                              .where(AuditRow.action == action, AuditRow.subject_type == subject_type,
                                     AuditRow.at >= since, AuditRow.at <= until)
                              .group_by(AuditRow.subject_id)).all()
        return {sid: at for sid, at in rows}


class IdempotencyKeys(_Repo):
    def get(self, principal: str, key: str) -> IdempotencyKeyRow | None:
        return self.s.execute(select(IdempotencyKeyRow).where(
            IdempotencyKeyRow.principal == principal, IdempotencyKeyRow.key == key)).scalar_one_or_none()

    def purge_before(self, cutoff: datetime) -> None:
        self.s.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < cutoff))


# ---- events, jobs, outbox, rules, pilot (issue 4) -----------------------------------------------------------------


def _insert_for(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


_EVENT_COLUMNS = ("source", "event_id", "type", "subject_ref", "status", "reason", "data", "result", "occurred_at",
                  "received_at", "processed_at")
_EVENT_TIMES = ("occurred_at", "received_at", "processed_at")
# The rows travel as one JSON array (json.dumps is C; psycopg escapes array elements one by one in Python). The
# jobs' ids follow the events' (ORDER BY): workers claim in id order. The NOTIFY is sent once, and only when a job
# was queued; PostgreSQL delivers it at commit, never for a rollback.
_INSERT_QUEUED = text(f"""
WITH ev AS (
    INSERT INTO events ({", ".join(_EVENT_COLUMNS)})
    SELECT {", ".join(_EVENT_COLUMNS)} FROM json_to_recordset(CAST(:rows AS json)) AS r(
        source varchar, event_id varchar, type varchar, subject_ref varchar, status varchar, reason text, data json,
        result json, occurred_at timestamptz, received_at timestamptz, processed_at timestamptz)
    ON CONFLICT (source, event_id) DO NOTHING
    RETURNING id, source, event_id, status
), queued AS (
    INSERT INTO jobs (kind, ref_id, status, attempts, max_attempts, run_after, last_error, done_by, created_at)
    SELECT 'event', id, 'queued', 0, :max_attempts, :now, '', '', :now FROM ev WHERE status = 'received' ORDER BY id
    RETURNING id
), woken AS (
    SELECT pg_notify(:channel, 'event') FROM (SELECT 1 FROM queued LIMIT 1) AS one
)
SELECT ev.id, ev.source, ev.event_id FROM ev, (SELECT count(*) FROM woken) AS notified
""")


class Events(_Repo):
    def insert_many(self, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
        """Insert events in one statement, skipping those whose (source, event_id) is stored: the new ids by key.
        Two rows with the same key in one call: one is inserted (the caller treats the first as it)."""
        if not rows:
            return {}
        table = EventRow.__table__  # Core, not the ORM's bulk machinery: this is the ingest hot path
        stmt = _insert_for(self.s)(table).on_conflict_do_nothing(index_elements=["source", "event_id"]) \
            .returning(table.c.id, table.c.source, table.c.event_id)
        return {(str(src), str(eid)): int(i) for i, src, eid in self.s.execute(stmt, list(rows)).all()}

    def insert_queued(self, rows: Sequence[dict[str, Any]], now: datetime, max_attempts: int = 5
                      ) -> dict[tuple[str, str], int]:
        """`insert_many`, and a queued job for each new row whose status is `received` (workers woken at commit).

        On PostgreSQL this is one statement whose text does not depend on the number of rows (arrays unnested):
        one round trip, parsed once by psycopg and prepared by the server, instead of an INSERT of the events, an
        INSERT of the jobs and a NOTIFY, each a round trip, the first a new multi-row text for every batch size."""
        if not rows:
            return {}
        if self.s.get_bind().dialect.name != "postgresql":
            new_ids = self.insert_many(rows)
            queued, seen = [], set()
            for r in rows:
                key = (r["source"], r["event_id"])
                if key in new_ids and key not in seen and r["status"] == "received":
                    queued.append(new_ids[key])
                seen.add(key)
            Jobs(self.s).enqueue_many("event", queued, now, max_attempts)
            return new_ids
        payload = json.dumps([{c: (r[c].isoformat() if c in _EVENT_TIMES and r[c] is not None else r[c])
                                for c in _EVENT_COLUMNS} for r in rows])
        params = {"rows": payload, "now": now, "max_attempts": max_attempts, "channel": JOBS_CHANNEL}
        return {(str(src), str(eid)): int(i) for i, src, eid in self.s.execute(_INSERT_QUEUED, params).all()}

    def load(self, event_ids: Sequence[int]) -> Sequence[EventRow]:
        """Load these events in one query (a worker's batch): while the caller holds them, `get` finds them in
        the session without a query (the identity map holds clean objects only as long as someone does)."""
        if not event_ids:
            return []
        return self.s.execute(select(EventRow).where(self._among(EventRow.id, event_ids))).scalars().all()

    def get(self, event_id: int, for_update: bool = False) -> EventRow | None:
        if for_update:
            return self.s.execute(select(EventRow).where(EventRow.id == event_id).with_for_update()
                                  ).scalar_one_or_none()
        return self.s.get(EventRow, event_id)

    def by_key(self, source: str, event_id: str) -> EventRow | None:
        return self.s.execute(select(EventRow).where(EventRow.source == source, EventRow.event_id == event_id)
                              ).scalar_one_or_none()

    def list(self, statuses: Sequence[str] | None = None, source: str | None = None, type_: str | None = None,
             limit: int = 100, offset: int = 0) -> Sequence[EventRow]:
        q = select(EventRow).order_by(EventRow.id.desc())
        if statuses:
            q = q.where(EventRow.status.in_(statuses))
        if source:
            q = q.where(EventRow.source == source)
        if type_:
            q = q.where(EventRow.type == type_)
        return self.s.execute(q.limit(limit).offset(offset)).scalars().all()

    def retrying(self, limit: int = 100) -> Sequence[EventRow]:
        """Events whose job failed at least once and waits for another attempt."""
        return self.s.execute(select(EventRow).join(JobRow, (JobRow.kind == "event") & (JobRow.ref_id == EventRow.id))
                              .where(JobRow.status == "queued", JobRow.attempts > 0)
                              .order_by(EventRow.id.desc()).limit(limit)).scalars().all()

    def applied_about(self, subject_ref: str, exclude_id: int) -> Sequence[EventRow]:
        """The latest applied (processed) event about the same subject, if any (a list of at most one)."""
        return self.s.execute(select(EventRow).where(
            EventRow.subject_ref == subject_ref, EventRow.id != exclude_id, EventRow.status == "processed")
            .order_by(EventRow.occurred_at.desc(), EventRow.id.desc()).limit(1)).scalars().all()

    def subjects_applied(self, subject_refs: Sequence[str]) -> set[str]:
        """Which of these subjects have an applied (processed) event: one query for a worker's batch."""
        if not subject_refs:
            return set()
        return {str(r) for r in self.s.execute(select(EventRow.subject_ref).where(
            EventRow.subject_ref.in_(subject_refs), EventRow.status == "processed").distinct()).scalars().all()}

    def existing_keys(self, source: str, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        rows = self.s.execute(select(EventRow.event_id).where(EventRow.source == source,
                                                              EventRow.event_id.in_(event_ids))).scalars().all()
        return {str(r) for r in rows}

    def count_by_status(self) -> dict[str, int]:
        rows = self.s.execute(select(EventRow.status, func.count()).group_by(EventRow.status)).all()
        return {str(s): int(n) for s, n in rows}


JOBS_CHANNEL = "billable_jobs"


class Jobs(_Repo):
    def enqueue(self, kind: str, ref_id: int, now: datetime, max_attempts: int = 5) -> None:
        self.s.execute(insert(JobRow).values(kind=kind, ref_id=ref_id, status="queued", attempts=0,
                                             max_attempts=max_attempts, run_after=now, last_error="", done_by="",
                                             created_at=now))

    def enqueue_many(self, kind: str, ref_ids: Sequence[int], now: datetime, max_attempts: int = 5) -> None:
        if ref_ids:
            self.s.execute(insert(JobRow.__table__), [  # type: ignore[arg-type]
                {"kind": kind, "ref_id": r, "status": "queued", "attempts": 0, "max_attempts": max_attempts,
                 "run_after": now, "last_error": "", "done_by": "", "created_at": now} for r in ref_ids])
            if self.s.get_bind().dialect.name == "postgresql":
                # delivered at commit (never for a rollback): workers LISTENing wake at once instead of polling
                self.s.execute(select(func.pg_notify(JOBS_CHANNEL, kind)))

    def claim(self, now: datetime, limit: int) -> Sequence[JobRow]:
        """Ready jobs, locked for this transaction; rows another worker holds are skipped, not waited for.
        (SQLite has no row locks and ignores FOR UPDATE: its writers are serialized by BEGIN IMMEDIATE.)"""
        return self.s.execute(select(JobRow).where(JobRow.status == "queued", JobRow.run_after <= now)
                              .order_by(JobRow.id).limit(limit).with_for_update(skip_locked=True)).scalars().all()

    def for_ref(self, kind: str, ref_id: int, for_update: bool = False) -> JobRow | None:
        q = select(JobRow).where(JobRow.kind == kind, JobRow.ref_id == ref_id)
        if for_update:
            q = q.with_for_update()
        return self.s.execute(q).scalar_one_or_none()

    def count_by_status(self) -> dict[str, int]:
        rows = self.s.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
        return {str(s): int(n) for s, n in rows}

    def next_run(self) -> datetime | None:
        return self.s.execute(select(func.min(JobRow.run_after)).where(JobRow.status == "queued")).scalar_one()

    def queue_figures(self) -> tuple[int, datetime | None, int]:
        """(queued jobs, when the oldest queued one was created, dead jobs): by the status index, never a scan
        of the done jobs, which only grow."""
        queued, oldest = self.s.execute(select(func.count(), func.min(JobRow.created_at))
                                        .where(JobRow.status == "queued")).one()
        dead = self.s.execute(select(func.count()).select_from(JobRow).where(JobRow.status == "dead")).scalar_one()
        return int(queued), oldest, int(dead)


class Outbox(_Repo):
    def put(self, topic: str, payload: dict[str, Any], cause: dict[str, Any], now: datetime) -> OutboxRow:
        row = OutboxRow(topic=topic, payload=payload, cause=cause, status="pending", attempts=0, run_after=now,
                        last_error="", created_at=now)
        self.s.add(row)
        return row

    def put_many(self, messages: list[tuple[str, dict[str, Any]]], cause: dict[str, Any], now: datetime) -> None:
        """Insert many messages with one statement (no RETURNING: nobody needs their ids now)."""
        insert_rows(self.s, table_of(OutboxRow), [
            {"topic": t, "payload": p, "cause": cause, "status": "pending", "attempts": 0, "run_after": now,
             "last_error": "", "created_at": now} for t, p in messages])

    def claim(self, now: datetime, limit: int) -> Sequence[OutboxRow]:
        return self.s.execute(select(OutboxRow).where(OutboxRow.status == "pending", OutboxRow.run_after <= now)
                              .order_by(OutboxRow.id).limit(limit).with_for_update(skip_locked=True)).scalars().all()

    def get(self, message_id: int, for_update: bool = False) -> OutboxRow | None:
        if for_update:
            return self.s.execute(select(OutboxRow).where(OutboxRow.id == message_id).with_for_update()
                                  ).scalar_one_or_none()
        return self.s.get(OutboxRow, message_id)

    def figures(self) -> tuple[int, int, datetime | None, int]:
        """(pending messages, pending ones that failed at least once, when the oldest pending was written, dead)."""
        pending, failing, oldest = self.s.execute(
            select(func.count(), func.count().filter(OutboxRow.attempts > 0), func.min(OutboxRow.created_at))
            .where(OutboxRow.status == "pending")).one()
        dead = self.s.execute(select(func.count()).select_from(OutboxRow)
                              .where(OutboxRow.status == "dead")).scalar_one()
        return int(pending), int(failing), oldest, int(dead)

    def list(self, status: str | None = None, limit: int = 100) -> Sequence[OutboxRow]:
        q = select(OutboxRow).order_by(OutboxRow.id.desc())
        if status:
            q = q.where(OutboxRow.status == status)
        return self.s.execute(q.limit(limit)).scalars().all()


class RuleSets(_Repo):
    def current(self) -> RuleSetRow | None:
        return self.s.execute(select(RuleSetRow).order_by(RuleSetRow.id.desc()).limit(1)).scalar_one_or_none()


class Pilot(_Repo):
    def client_ids(self) -> set[int]:
        return {int(c) for c in self.s.execute(select(PilotClientRow.client_id)).scalars().all()}

    def is_on(self, client_id: int) -> bool:
        return self.s.get(PilotClientRow, client_id) is not None

    def set(self, client_id: int, on: bool, now: datetime) -> bool:
        """Put a client in or out of pilot mode; whether anything changed."""
        row = self.s.get(PilotClientRow, client_id)
        if on and row is None:
            self.s.add(PilotClientRow(client_id=client_id, since=now))
        elif not on and row is not None:
            self.s.delete(row)
        else:
            return False
        self.s.flush()
        return True


class Schedules(_Repo):
    def active_arrangements(self, kinds: Sequence[str]) -> Sequence[ArrangementRow]:
        """Arrangements the schedule bills: open ones of clients that are not archived."""
        return self.s.execute(select(ArrangementRow).join(ClientRow, ClientRow.id == ArrangementRow.client_id)
                              .where(ArrangementRow.kind.in_(kinds), ArrangementRow.active.is_(True),
                                     ClientRow.archived_at.is_(None))
                              .order_by(ArrangementRow.id)).scalars().all()

    def ending(self, since: date, until: date) -> Sequence[ArrangementRow]:
        """Active arrangements whose contract ended in [since, until] (clients not archived)."""
        return self.s.execute(select(ArrangementRow).join(ClientRow, ClientRow.id == ArrangementRow.client_id).where(
            ClientRow.archived_at.is_(None), ArrangementRow.active.is_(True), ArrangementRow.ends_on.is_not(None),
            ArrangementRow.ends_on >= since,
            ArrangementRow.ends_on <= until).order_by(ArrangementRow.id)).scalars().all()


class Deliveries(_Repo):
    """Invoice delivery rows (hosted page token, first view, e-mail) and dunning reminders (issue 7)."""

    def get(self, invoice_id: int, for_update: bool = False) -> InvoiceDeliveryRow | None:
        q = select(InvoiceDeliveryRow).where(InvoiceDeliveryRow.invoice_id == invoice_id)
        if for_update:
            q = q.with_for_update()
        return self.s.execute(q).scalar_one_or_none()

    def by_token_hash(self, token_hash: str, for_update: bool = False) -> InvoiceDeliveryRow | None:
        q = select(InvoiceDeliveryRow).where(InvoiceDeliveryRow.token_hash == token_hash)
        if for_update:
            q = q.with_for_update()
        return self.s.execute(q).scalar_one_or_none()

    def by_message_id(self, message_id: str) -> InvoiceDeliveryRow | None:
        return self.s.execute(select(InvoiceDeliveryRow).where(InvoiceDeliveryRow.message_id == message_id)
                              ).scalars().first()

    def reminder_steps(self, invoice_id: int) -> set[int]:
        return {int(v) for v in self.s.execute(select(InvoiceReminderRow.step).where(
            InvoiceReminderRow.invoice_id == invoice_id)).scalars().all()}

    def reminder_steps_for(self, invoice_ids: Sequence[int]) -> dict[int, set[int]]:
        """The steps already taken, per invoice, in one query per thousand invoices (the tick runs every minute)."""
        out: dict[int, set[int]] = {}
        for i in range(0, len(invoice_ids), 1000):
            rows = self.s.execute(select(InvoiceReminderRow.invoice_id, InvoiceReminderRow.step).where(
                InvoiceReminderRow.invoice_id.in_(invoice_ids[i:i + 1000]))).all()
            for inv, step in rows:
                out.setdefault(int(inv), set()).add(int(step))
        return out

    def with_delivery_status(self, invoice_ids: Sequence[int], statuses: Sequence[str]) -> set[int]:
        out: set[int] = set()
        for i in range(0, len(invoice_ids), 1000):
            out |= {int(v) for v in self.s.execute(select(InvoiceDeliveryRow.invoice_id).where(
                InvoiceDeliveryRow.invoice_id.in_(invoice_ids[i:i + 1000]),
                InvoiceDeliveryRow.status.in_(statuses))).scalars().all()}
        return out

    def reminder(self, invoice_id: int, step: int, for_update: bool = False) -> InvoiceReminderRow | None:
        q = select(InvoiceReminderRow).where(InvoiceReminderRow.invoice_id == invoice_id,
                                             InvoiceReminderRow.step == step)
        if for_update:
            q = q.with_for_update()
        return self.s.execute(q).scalar_one_or_none()

    def claim_reminder(self, invoice_id: int, step: int, due_on: date, now: datetime) -> bool:
        """Take one reminder step for an invoice; False when it was taken already (by us or a concurrent run)."""
        ins = pg_insert if self.s.get_bind().dialect.name == "postgresql" else sqlite_insert
        result = self.s.execute(ins(InvoiceReminderRow).values(
            invoice_id=invoice_id, step=step, due_on=due_on, created_at=now, status="queued", last_error=""
        ).on_conflict_do_nothing(
            index_elements=["invoice_id", "step"]).returning(InvoiceReminderRow.id))
        # RETURNING, not rowcount: rowcount after ON CONFLICT DO NOTHING is not dependable across drivers.
        return result.first() is not None

    def open_invoices_due_between(self, first: date, last: date) -> Sequence[InvoiceRow]:
        from domain.model.lifecycle import OPEN, Status

        states = [s.value for s in OPEN if s != Status.UNCOLLECTIBLE]
        # the tick runs every minute: not the lines of every open invoice (they load only if someone asks)
        return self.s.execute(select(InvoiceRow).options(lazyload(InvoiceRow.lines)).where(
            InvoiceRow.kind == "invoice", InvoiceRow.status.in_(states), InvoiceRow.due_date.is_not(None),
            InvoiceRow.due_date >= first, InvoiceRow.due_date <= last).order_by(InvoiceRow.id)).scalars().all()


class ParkedPayments(_Repo):
    """Payments parked for a person (follow-up of issue 7)."""

    def get(self, parked_id: int, for_update: bool = False) -> ParkedPaymentRow | None:
        q = select(ParkedPaymentRow).where(ParkedPaymentRow.id == parked_id)
        if for_update:
            q = q.with_for_update()
        return self.s.execute(q).scalar_one_or_none()

    def by_event(self, event_id: int) -> ParkedPaymentRow | None:
        return self.s.execute(select(ParkedPaymentRow).where(ParkedPaymentRow.source_event_id == event_id)
                              ).scalar_one_or_none()

    def list(self, statuses: Sequence[str] | None = None, limit: int = 100, offset: int = 0,
             ) -> Sequence[ParkedPaymentRow]:
        q = select(ParkedPaymentRow).order_by(ParkedPaymentRow.id.desc())
        if statuses:
            q = q.where(ParkedPaymentRow.status.in_(statuses))
        return self.s.execute(q.limit(limit).offset(offset)).scalars().all()

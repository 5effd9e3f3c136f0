"""The unit of work: one transaction, its repositories, and the audit entries it must commit with."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from types import TracebackType
from typing import Any, Self

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.util import identity_key

from domain.model.audit_chain import GENESIS, Keyring, sign
from domain.model.roles import Actor
from domain.store import repositories as repos
from domain.store.audit_keys import keyring_for
from domain.store.clock import Clock
from domain.store.tables import AuditHeadRow, AuditRow, Base

# SQLite tables declared with sqlite_autoincrement: their ids are never reused, even after a delete.
_SQLITE_AUTOINCREMENT = frozenset(t.name for t in Base.metadata.tables.values()
                                  if t.dialect_options["sqlite"].get("autoincrement"))


DEFER_FLUSH, ID_POOL = repos.DEFER_FLUSH, repos.ID_POOL


def jsonable(value: Any) -> Any:
    """Round-trip through JSON so what we hash is exactly what the database will give back."""
    return json.loads(json.dumps(value, default=str, sort_keys=True)) if value is not None else None


@dataclass(slots=True)
class PendingAudit:
    actor: Actor
    action: str
    subject_type: str
    subject_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    cause: dict[str, Any] = field(default_factory=dict)


class AuditBuffer:
    """Collects audit entries during a use case; they are chained and written at commit."""

    def __init__(self) -> None:
        self.pending: list[PendingAudit] = []
        self.cause: dict[str, Any] = {}

    def record(self, actor: Actor, action: str, subject_type: str, subject_id: object,
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
               cause: dict[str, Any] | None = None) -> None:
        self.pending.append(PendingAudit(actor, action, subject_type, str(subject_id), jsonable(before),
                                         jsonable(after), jsonable({**self.cause, **(cause or {})})))


_HASHED = ("seq", "actor_kind", "actor_id", "actor_label", "action", "subject_type", "subject_id", "before",
           "after")


def _content(v: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v[k] for k in _HASHED}, "at": v["at"].isoformat(), "cause": v["cause"] or {}}


def audit_content(row: AuditRow) -> dict[str, Any]:
    """The hashed part of an entry, rebuilt from its columns."""
    return _content({k: getattr(row, k) for k in (*_HASHED, "at", "cause")})


class UnitOfWork:
    """`with UnitOfWork(factory) as uow: ...; uow.commit()`; leaving without commit rolls back."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock | None = None,
                 readonly: bool = False, keyring: Keyring | None = None) -> None:
        self._factory = session_factory
        self.clock = clock or Clock()
        self.keyring = keyring or keyring_for()
        self.readonly = readonly
        self.audit = AuditBuffer()
        self._after_commit: list[Callable[[], None]] = []
        self._writes: list[Callable[[], None]] = []
        self._depth = 0

    def __enter__(self) -> Self:
        # Re-entrant: a use case may call another inside its own transaction; only the outermost commits.
        self._depth += 1
        if self._depth > 1:
            return self
        self.session = self._factory()
        if self.readonly:
            self.session.connection(execution_options={"readonly": True})
        self.audit.pending.clear()
        self._writes.clear()
        self.clients = repos.Clients(self.session)
        self.users = repos.Users(self.session)
        self.arrangements = repos.Arrangements(self.session)
        self.work = repos.Work(self.session)
        self.invoices = repos.Invoices(self.session)
        self.claims = repos.Claims(self.session)
        self.counters = repos.Counters(self.session)
        self.workspace = repos.Workspace(self.session)
        self.audit_log = repos.AuditLog(self.session)
        self.idempotency = repos.IdempotencyKeys(self.session)
        self.events = repos.Events(self.session)
        self.jobs = repos.Jobs(self.session)
        self.outbox = repos.Outbox(self.session)
        self.rule_sets = repos.RuleSets(self.session)
        self.pilot = repos.Pilot(self.session)
        self.schedules = repos.Schedules(self.session)
        self.deliveries = repos.Deliveries(self.session)
        self.parked = repos.ParkedPayments(self.session)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        self._writes.clear()
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def set_cause(self, **cause: Any) -> None:
        """What caused this work (event id, chat message id, rule id): stamped on every audit entry."""
        self.audit.cause.update({k: v for k, v in cause.items() if v is not None})

    def flush(self) -> None:
        self._run_writes()
        self.session.flush()

    def preassign_ids(self, rows: Sequence[Base]) -> None:
        """Give new rows their ids from PostgreSQL's sequences in one query per table.

        Rows that arrive with their ids need no RETURNING, so the ORM writes them with one executemany (psycopg's
        pipeline, one short statement) instead of huge multi-row INSERT ... RETURNING statements that psycopg must
        re-parse each time: most of a month-end run's time on PostgreSQL. SQLite has no sequences: a writer there
        holds the database's write lock from its first statement (BEGIN IMMEDIATE), so the next ids are read from
        the table (and from sqlite_sequence for AUTOINCREMENT tables, whose ids are never reused) and nobody can
        take them meanwhile.
        """
        by_table: dict[str, list[Base]] = {}
        for r in rows:
            if getattr(r, "id", None) is None:
                by_table.setdefault(r.__tablename__, []).append(r)
        if not by_table:
            return
        for table, todo in by_table.items():
            ids = self.reserve_ids(table, len(todo))
            if not ids:
                return  # no write lock (a read-only unit of work on SQLite): leave the ids to the database
            for r, i in zip(todo, ids, strict=True):
                r.id = i  # type: ignore[attr-defined]

    def reserve_ids(self, table: str, count: int) -> list[int]:
        """`count` new ids of a table, taken now (see `preassign_ids`); an id reserved and never used is a gap."""
        if count <= 0:
            return []
        if self.session.get_bind().dialect.name == "postgresql":
            # The sequence is looked up once (a materialized CTE), not per id: pg_get_serial_sequence in the select
            # list cost ~13 us a row, 7 times the nextval itself.
            return [int(i) for i in self.session.execute(
                text("WITH seq AS MATERIALIZED (SELECT pg_get_serial_sequence(:t, 'id')::regclass AS s) "
                     "SELECT nextval(seq.s) FROM seq, generate_series(1, :n)"),
                {"t": table, "n": count}).scalars().all()]
        if self.readonly:
            return []
        last = int(self.session.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table}"')).scalar_one())
        if table in _SQLITE_AUTOINCREMENT:
            seq = self.session.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"),
                                       {"t": table}).scalar_one_or_none()
            last = max(last, int(seq or 0))
        return list(range(last + 1, last + 1 + count))

    def write_before_flush(self, write: Callable[[], None]) -> None:
        """Run `write` (Core statements for rows kept out of the session) at the next `flush` or `commit`, once.

        A month-end batch builds its drafts as plain rows, decides them, and writes each row once in its final
        state; a step that needs them in the database earlier (sending on issue) calls `flush` first."""
        self._writes.append(write)

    def _run_writes(self) -> None:
        while self._writes:
            self._writes.pop(0)()

    def commit(self) -> None:
        """Chain and write the buffered audit entries, then commit, all in one transaction."""
        self._run_writes()
        if self._depth > 1 and self.session.info.get(DEFER_FLUSH):
            return  # a worker's batch: the rows are written together at its end (see `domain.services.jobs`)
        self.session.flush()
        if self._depth > 1:
            return
        if self.audit.pending:
            self._write_audit()
        self.session.commit()
        callbacks, self._after_commit = self._after_commit, []
        for cb in callbacks:
            cb()

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)

    def _write_audit(self) -> None:
        # Taken last and held only until commit: concurrent writers queue here briefly, and the chain stays
        # one line (no two entries share a predecessor).
        if self.session.get_bind().dialect.name == "postgresql":
            head = self.session.execute(_LOCK_HEAD).one_or_none()
            if head is not None:
                rows = self._chained(int(head[0]), str(head[1]))
                if len(rows) <= _APPEND_MAX:
                    # One round trip for the entries and the new head (a COPY takes two, the head's UPDATE one).
                    self.session.execute(_APPEND_AUDIT, {
                        "rows": json.dumps([{**r, "at": r["at"].isoformat()} for r in rows]),
                        "seq": rows[-1]["seq"], "hash": rows[-1]["hash"]})
                else:  # a month-end run writes thousands of entries per commit: COPY
                    repos.insert_rows(self.session, repos.table_of(AuditRow), rows)
                    self.session.execute(_MOVE_HEAD, {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]})
                self.audit.pending.clear()
                stale = self.session.identity_map.get(identity_key(AuditHeadRow, 1))
                if stale is not None:  # loaded earlier by this session: read it again if asked
                    self.session.expire(stale)
                return
        head_row = self.session.execute(
            select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()).scalar_one_or_none()
        if head_row is None:
            head_row = AuditHeadRow(id=1, last_seq=0, last_hash=GENESIS)
            self.session.add(head_row)
        rows = self._chained(head_row.last_seq, head_row.last_hash)
        # One statement (COPY on PostgreSQL): a month-end run writes thousands of entries per commit.
        repos.insert_rows(self.session, repos.table_of(AuditRow), rows)
        head_row.last_seq, head_row.last_hash = rows[-1]["seq"], rows[-1]["hash"]
        self.audit.pending.clear()
        self.session.flush()

    def _chained(self, seq: int, prev: str) -> list[dict[str, Any]]:
        """The pending entries as rows, numbered after `seq` and each signed over its predecessor's hash."""
        now = self.clock.now().astimezone(UTC)  # hashed as ISO text: must read back identically
        rows = []
        for p in self.audit.pending:
            seq += 1
            values: dict[str, Any] = {
                "seq": seq, "at": now, "actor_kind": p.actor.kind.value, "actor_id": p.actor.user_id,
                "actor_label": p.actor.label or (p.actor.email or p.actor.kind.value), "action": p.action,
                "subject_type": p.subject_type, "subject_id": p.subject_id, "cause": p.cause, "before": p.before,
                "after": p.after, "prev_hash": prev}
            values["key_id"], values["hash"] = sign(self.keyring, prev, _content(values))
            prev = values["hash"]
            rows.append(values)
        return rows


_LOCK_HEAD = text("SELECT last_seq, last_hash FROM audit_head WHERE id = 1 FOR UPDATE")
_MOVE_HEAD = text("UPDATE audit_head SET last_seq = :seq, last_hash = :hash WHERE id = 1")
_APPEND_MAX = 100  # entries written by one INSERT ... json_to_recordset; more go by COPY
# JSON null becomes SQL NULL in json_to_recordset: coalesce keeps what SQLAlchemy's JSON type writes for None.
_APPEND_AUDIT = text("""
WITH appended AS (
    INSERT INTO audit_log (seq, at, actor_kind, actor_id, actor_label, action, subject_type, subject_id, cause, before,
                           after, prev_hash, hash, key_id)
    SELECT seq, at, actor_kind, actor_id, actor_label, action, subject_type, subject_id, coalesce(cause, 'null'),
           coalesce(before, 'null'), coalesce(after, 'null'), prev_hash, hash, key_id
    FROM json_to_recordset(CAST(:rows AS json)) AS r(
        seq bigint, at timestamptz, actor_kind varchar, actor_id integer, actor_label varchar, action varchar,
        subject_type varchar, subject_id varchar, cause json, before json, after json, prev_hash varchar,
        hash varchar, key_id varchar)
)
UPDATE audit_head SET last_seq = :seq, last_hash = :hash WHERE id = 1
""")

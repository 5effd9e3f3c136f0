"""The bulk write path (`repositories.insert_rows`: COPY on PostgreSQL) writes what Core's executemany writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Table, insert, select, text
from sqlalchemy.exc import IntegrityError

from domain.store.repositories import insert_rows, table_of
from domain.store.session import Database
from domain.store.tables import AuditRow, OutboxRow

AT = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _rows(db: Database, table: Table, key: str, ids: list[int]) -> list[dict[str, Any]]:
    """Each row's columns as read back, and each JSON column as stored (text, or SQL NULL)."""
    json_cols = [c.name for c in table.columns if c.type.__class__.__name__ == "JSON"]
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(table).where(table.c[key].in_(ids)).order_by(table.c[key]))]
        stored = conn.execute(text(f"SELECT {', '.join(f'CAST({c} AS TEXT)' for c in json_cols)} FROM {table.name} "
                                   f"WHERE {key} IN ({', '.join(map(str, ids))}) ORDER BY {key}")).all()
    for r, s in zip(rows, stored, strict=True):
        r.pop(key)
        r.pop("id", None)
        r.update({f"{c} (stored)": v for c, v in zip(json_cols, s, strict=True)})
    return rows


def test_bulk_rows_read_back_as_the_executemany_writes_them(db: Database) -> None:
    """Columns left out take their Python defaults, UTC datetimes and JSON (with a None as JSON null) alike."""
    outbox = [{"topic": "invoice.issued", "payload": {"number": "INV-1", "total": "1.00", "lines": [1, None]},
               "cause": {}, "run_after": AT, "created_at": AT},
              {"topic": "invoice.paid", "payload": {"ü": "Königstraße"}, "cause": {"event": 7}, "run_after": AT,
               "created_at": AT, "status": "sent", "attempts": 2}]
    audit = [{"seq": seq, "at": AT, "actor_kind": "system", "actor_id": None, "actor_label": "tests",
              "action": "invoice.issued", "subject_type": "invoice", "subject_id": "1", "cause": {}, "before": None,
              "after": {"status": "issued"}, "prev_hash": "0" * 64, "hash": "1" * 64, "key_id": "local"}
             for seq in (101, 102)]
    with db.engine.begin() as conn:
        for r in outbox:  # one statement each: an executemany takes its columns from its first row
            conn.execute(insert(table_of(OutboxRow)), [dict(r, topic="core." + r["topic"])])
        conn.execute(insert(table_of(AuditRow)), audit[:1])
    with db.uow() as uow:
        insert_rows(uow.session, table_of(OutboxRow), [dict(r, topic="bulk." + r["topic"]) for r in outbox])
        insert_rows(uow.session, table_of(AuditRow), audit[1:])
        uow.commit()
    with db.engine.connect() as conn:
        ids = {r.topic: r.id for r in conn.execute(select(OutboxRow.id, OutboxRow.topic))}
    core = _rows(db, table_of(OutboxRow), "id", [ids["core.invoice.issued"], ids["core.invoice.paid"]])
    bulk = _rows(db, table_of(OutboxRow), "id", [ids["bulk.invoice.issued"], ids["bulk.invoice.paid"]])
    for r in core + bulk:
        r["topic"] = r["topic"].split(".", 1)[1]
    assert bulk == core
    assert bulk[0]["status"] == "pending" and bulk[0]["attempts"] == 0 and bulk[0]["run_after"] == AT
    core_audit, bulk_audit = _rows(db, table_of(AuditRow), "seq", [101]), _rows(db, table_of(AuditRow), "seq", [102])
    assert bulk_audit == core_audit
    assert bulk_audit[0]["before (stored)"] == "null"  # a None in a JSON column is JSON null, as Core writes it


def test_a_bulk_write_that_breaks_a_constraint_raises_integrity_error_and_writes_nothing(db: Database) -> None:
    row = {"seq": 7, "at": AT, "actor_kind": "system", "actor_id": None, "actor_label": "tests", "action": "x",
           "subject_type": "invoice", "subject_id": "1", "cause": {}, "before": None, "after": None,
           "prev_hash": "0" * 64, "hash": "1" * 64, "key_id": "local"}
    with db.uow() as uow, pytest.raises(IntegrityError):
        insert_rows(uow.session, table_of(AuditRow), [row, dict(row, subject_id="2")])
    with db.engine.connect() as conn:
        assert conn.execute(select(AuditRow.seq).where(AuditRow.seq == 7)).all() == []


def test_json_orjson_refuses_is_written_by_the_standard_library(db: Database) -> None:
    """An integer beyond 64 bits (a webhook's payload may carry one) is stored and read back exactly, by Core and by
    the bulk path alike; orjson alone raises on it."""
    payload = {"n": 2**70, "k": [1, None], "ü": "Königstraße"}
    with db.uow() as uow:
        insert_rows(uow.session, table_of(OutboxRow), [{"topic": "bulk.big", "payload": payload, "cause": {},
                                                        "run_after": AT, "created_at": AT}])
        uow.session.execute(insert(table_of(OutboxRow)), [{"topic": "core.big", "payload": payload, "cause": {},
                                                            "run_after": AT, "created_at": AT}])
        uow.commit()
    with db.engine.connect() as conn:
        stored = dict(conn.execute(select(OutboxRow.topic, OutboxRow.payload).where(
            OutboxRow.topic.in_(("bulk.big", "core.big")))).all())
    assert stored == {"bulk.big": payload, "core.big": payload}
    assert isinstance(stored["bulk.big"]["n"], int)

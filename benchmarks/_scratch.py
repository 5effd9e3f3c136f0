"""A throwaway database for one benchmark run: a SQLite file, or a PostgreSQL database on BILLABLE_TEST_PG that
`drop_database` removes afterwards (the benchmarks' one copy of this, imported as a sibling module)."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

PG_ADMIN = os.environ.get("BILLABLE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def fresh_database(backend: str, tag: str, folder: Path | None = None) -> str:
    """The URL of a new, empty database named after `tag` (SQLite: a file in `folder`, or a new temp folder)."""
    if backend == "sqlite":
        where = folder if folder is not None else Path(tempfile.mkdtemp(prefix="billable-bench-"))
        return f"sqlite:///{where / f'{tag}.db'}"
    import psycopg

    name = f"billable_bench_{tag}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database made by `fresh_database` (a SQLite file goes with its folder)."""
    if url.startswith("sqlite"):
        return
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

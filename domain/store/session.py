"""Opening the database: an engine, a session factory, and units of work from them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from domain.store.clock import Clock
from domain.store.db import make_engine
from domain.store.migrate import upgrade
from domain.store.uow import UnitOfWork


@dataclass
class Database:
    """One database and how to get units of work on it; shared by every door in a process."""

    engine: Engine
    clock: Clock

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, clock: Clock | None = None, migrate: bool = False) -> Database:
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
        return cls(engine, clock or Clock())

    def uow(self, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.clock, readonly=readonly)

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Database", "Session"]

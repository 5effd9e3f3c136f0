"""Opening the database: an engine, a session factory, and units of work from them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from domain.model.audit_chain import Keyring
from domain.store.audit_keys import keyring_for
from domain.store.clock import Clock
from domain.store.db import make_engine
from domain.store.migrate import upgrade
from domain.store.uow import UnitOfWork


@dataclass
class Database:
    """One database and how to get units of work on it; shared by every door in a process. `keyring`: the audit
    keys (from the settings: `keyring_for(settings)`); unset, the embedded default's local key."""

    engine: Engine
    clock: Clock
    keyring: Keyring = field(default_factory=keyring_for)

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, clock: Clock | None = None, migrate: bool = False,
             keyring: Keyring | None = None) -> Database:
        engine = make_engine(url)
        keyring = keyring or keyring_for()
        if migrate:
            upgrade(engine, keyring)
        return cls(engine, clock or Clock(), keyring)

    def uow(self, readonly: bool = False) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.clock, readonly=readonly, keyring=self.keyring)

    def dispose(self) -> None:
        self.engine.dispose()


__all__ = ["Database", "Session"]

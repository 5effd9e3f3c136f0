"""Agent fixtures: the evals' standard books (built through the services, today 2026-04-01 09:00 UTC) and a Chat
on them with the offline interpreter. `books`/`chat` run on SQLite and PostgreSQL; `books_lite`/`chat_lite` on
SQLite only, for the many phrasing tests that exercise the interpreter rather than the store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agent import Channel, Chat
from domain.model.roles import Actor
from domain.settings import Settings
from domain.store.clock import FixedClock
from domain.store.db import make_engine
from domain.store.session import Database
from evals import Seeded
from evals._seed import NOW, standard
from tests.conftest import open_database
from tests.services.conftest import World

SETTINGS = Settings(_env_file=None, secret_key="test-secret-" + "x" * 24)


@pytest.fixture
def books(db: Database, clock: FixedClock) -> Seeded:
    return standard(db, clock)


@pytest.fixture
def chat(books: Seeded) -> Iterator[Chat]:
    c = Chat.open(books.db, SETTINGS)
    yield c
    c.close()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> tuple[Path, dict[str, int]]:
    """The standard books seeded once into a SQLite file (copied per test) and their ids."""
    folder = tmp_path_factory.mktemp("seeded")
    db = open_database("sqlite", folder, sqlite_template, None, FixedClock(NOW))
    ids = standard(db, db.clock).ids  # type: ignore[arg-type]
    db.dispose()  # checkpoints the WAL into the file we copy
    return folder / "billable.db", ids


@pytest.fixture
def books_lite(tmp_path: Path, seeded_template: tuple[Path, dict[str, int]], clock: FixedClock,
               ) -> Iterator[Seeded]:
    path, ids = seeded_template
    shutil.copy(path, tmp_path / "books.db")
    db = Database(make_engine(f"sqlite:///{tmp_path / 'books.db'}"), clock)
    yield Seeded(db, clock, dict(ids))
    db.dispose()


@pytest.fixture
def chat_lite(books_lite: Seeded) -> Iterator[Chat]:
    c = Chat.open(books_lite.db, SETTINGS)
    yield c
    c.close()


def tool_calls(chat: Chat, actor: Actor, thread: str, channel: Channel = Channel.HTTP) -> list[tuple[str, Any]]:
    """The tool calls the model made in the thread's last turn, in order: (name, args)."""
    state = chat.agent(actor.role, channel).get_state({"configurable": {"thread_id": thread}})
    messages = state.values["messages"]
    last_human = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    return [(c["name"], c["args"]) for m in messages[last_human:] if isinstance(m, AIMessage) for c in m.tool_calls]


__all__ = ["SETTINGS", "World", "tool_calls"]

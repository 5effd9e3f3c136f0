"""Run the scenarios: seed fresh books, hold the conversation through the same Chat every door uses, then compare
the books afterwards with what the scenario expects (as data), and the replies with the facts they must state.

A scenario passes when every turn got the reply facts it needs and the books are exactly as expected: the
invoices it names in the state it names, new invoices as listed, every other invoice untouched, and exactly the
audit actions listed added. Each is run k times; pass^k (tau2-bench) is the chance that all k runs pass,
estimated per task as C(c, k) / C(n, k) from c passes in n runs and averaged over tasks.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import LLMResult

from agent import Channel, Chat
from domain.model.roles import Actor
from domain.services import audit, invoicing
from domain.settings import Settings
from domain.store.clock import FixedClock
from domain.store.db import make_engine
from domain.store.migrate import upgrade
from domain.store.session import Database
from evals._seed import NOW, SEEDS, Seeded

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@dataclass(frozen=True)
class Turn:
    say: str
    confirm: str | None = None  # approve | reject: the turn must pause for confirmation, then this decision
    pending: bool = False  # the turn must end waiting for confirmation (left undecided)
    reply_has: tuple[str, ...] = ()
    reply_lacks: tuple[str, ...] = ()
    pending_has: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    about: str
    seed: str
    person: str
    turns: tuple[Turn, ...]
    audit_added: tuple[str, ...]
    invoices: tuple[dict[str, Any], ...]  # {ref: seed key or number, field: value...}
    new_invoices: tuple[dict[str, Any], ...]
    tags: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path) -> Scenario:
        data = tomllib.loads(path.read_text())
        expect = data.get("expect", {})
        turns = tuple(Turn(say=t["say"], confirm=t.get("confirm"), pending=t.get("pending", False),
                           reply_has=tuple(t.get("reply_has", ())), reply_lacks=tuple(t.get("reply_lacks", ())),
                           pending_has=tuple(t.get("pending_has", ()))) for t in data["turn"])
        return cls(name=data.get("name", path.stem), about=data.get("about", ""), seed=data.get("seed", "standard"),
                   person=data["as"], turns=turns, audit_added=tuple(expect.get("audit_added", ())),
                   invoices=tuple(expect.get("invoice", ())), new_invoices=tuple(expect.get("new_invoice", ())),
                   tags=tuple(data.get("tags", ())))


def load_scenarios(folder: Path = SCENARIOS, only: str | None = None) -> list[Scenario]:
    out = [Scenario.load(p) for p in sorted(folder.glob("*.toml"))]
    return [s for s in out if not only or only in s.name or only in s.tags]


class Usage(BaseCallbackHandler):
    """Counts model calls and tokens (as the model reports them; the offline interpreter reports none)."""

    def __init__(self) -> None:
        self.calls = 0
        self.tokens = 0

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kw: Any) -> None:
        self.calls += 1

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> None:
        for gens in response.generations:
            for g in gens:
                usage = getattr(getattr(g, "message", None), "usage_metadata", None) or {}
                self.tokens += int(usage.get("total_tokens", 0))


@dataclass
class Trial:
    passed: bool
    failures: list[str]
    model_calls: int
    tokens: int
    seconds: float


@dataclass
class TaskResult:
    scenario: Scenario
    trials: list[Trial] = field(default_factory=list)

    @property
    def passes(self) -> int:
        return sum(t.passed for t in self.trials)

    def pass_hat(self, k: int) -> float:
        n = len(self.trials)
        return comb(self.passes, k) / comb(n, k) if n >= k else 0.0


@dataclass
class Report:
    tasks: list[TaskResult]
    k: int
    model: str

    def pass_hat(self, k: int) -> float:
        return sum(t.pass_hat(k) for t in self.tasks) / len(self.tasks) if self.tasks else 0.0


class Templates:
    """Seeded books as SQLite files, made once per seed and copied for each trial: the seeds are deterministic
    (fixed clock, services only), so a copy is the same books as seeding again, in a fraction of the time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seeded: dict[str, tuple[Path, dict[str, int]]] = {}
        migrated = folder / "migrated.db"
        engine = make_engine(f"sqlite:///{migrated}")
        upgrade(engine)
        engine.dispose()
        self.migrated = migrated

    def get(self, seed: str) -> tuple[Path, dict[str, int]]:
        if seed not in self.seeded:
            path = self.folder / f"{seed}.db"
            shutil.copy(self.migrated, path)
            clock = FixedClock(NOW)
            db = Database(make_engine(f"sqlite:///{path}"), clock)
            try:
                self.seeded[seed] = (path, dict(SEEDS[seed](db, clock).ids))
            finally:
                db.dispose()  # checkpoints the WAL into the file that is copied
        return self.seeded[seed]


@contextmanager
def books_templates() -> Iterator[Templates]:
    folder = Path(tempfile.mkdtemp(prefix="billable-evals-"))
    try:
        yield Templates(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _books(db: Database) -> dict[int, dict[str, Any]]:
    rows = invoicing.list_invoices(db.uow(), Actor.system("evals"), limit=500)
    return {i.id: {"number": i.number, "client": i.client_name, "status": i.status, "total": i.total,
                   "balance": i.balance, "kind": i.kind, "period_start": str(i.period_start)} for i in rows}


def _audit_after(db: Database, seq: int) -> list[str]:
    return [e.action for e in audit.audit_history(db.uow(), Actor.system("evals"), None, None, 1000, seq)]


def _last_seq(db: Database) -> int:
    with db.uow() as uow:
        return uow.audit_log.count()


def run_trial(s: Scenario, templates: Templates, model: BaseChatModel | str | None, settings: Settings) -> Trial:
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="billable-trial-"))
    usage = Usage()
    failures: list[str] = []
    try:
        template, ids = templates.get(s.seed)
        shutil.copy(template, folder / "books.db")
        clock = FixedClock(NOW)
        db = Database(make_engine(f"sqlite:///{folder / 'books.db'}"), clock)
        chat = None
        try:
            seeded = Seeded(db, clock, dict(ids))
            before, seq = _books(db), _last_seq(db)
            chat = Chat.open(db, settings, model)
            actor = seeded.actor(s.person)
            thread = chat.open_thread(actor)
            for n, turn in enumerate(s.turns, 1):
                failures += _converse(chat, actor, thread, n, turn, usage)
            failures += _compare(s, seeded, before, _books(db), _audit_after(db, seq))
        finally:
            if chat is not None:
                chat.close()
            db.dispose()
    except Exception as e:  # a bug or a model endpoint failing: the trial fails, the run goes on
        failures.append(f"crashed: {type(e).__name__}: {e}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Trial(not failures, failures, usage.calls, usage.tokens, time.perf_counter() - started)


def _facts(where: str, text: str, has: tuple[str, ...], lacks: tuple[str, ...]) -> list[str]:
    low = text.lower()
    out = [f"{where} lacks {f!r}" for f in has if f.lower() not in low]
    return out + [f"{where} says {f!r}" for f in lacks if f.lower() in low]


def _converse(chat: Chat, actor: Actor, thread: str, n: int, turn: Turn, usage: Usage) -> list[str]:
    reply = chat.send(actor, thread, turn.say, Channel.HTTP, callbacks=[usage])
    failures: list[str] = []
    if turn.confirm:
        if reply.pending is None:
            return [f"turn {n}: expected a confirmation, got: {reply.text[:200]!r}"]
        failures += _facts(f"turn {n} confirmation", reply.pending.summary, turn.pending_has, ())
        reply = chat.decide(actor, thread, reply.pending.id, turn.confirm, channel=Channel.HTTP, callbacks=[usage])
    elif turn.pending and reply.pending is None:
        failures.append(f"turn {n}: expected to wait for confirmation, got: {reply.text[:200]!r}")
    elif not turn.pending and reply.pending is not None:
        failures.append(f"turn {n}: unexpected confirmation: {reply.pending.summary[:200]!r}")
    if turn.pending and reply.pending is not None:
        failures += _facts(f"turn {n} confirmation", reply.pending.summary, turn.pending_has, ())
    return failures + _facts(f"turn {n} reply", reply.text, turn.reply_has, turn.reply_lacks)


def _compare(s: Scenario, seeded: Seeded, before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]],
             added: list[str]) -> list[str]:
    failures = []
    if added != list(s.audit_added):
        failures.append(f"audit actions added: {added}, expected {list(s.audit_added)}")
    named: set[int] = set()
    for want in s.invoices:
        ref = str(want["ref"])
        iid = seeded.ids.get(ref) or next((i for i, v in after.items() if v["number"] == ref), None)
        if iid is None or iid not in after:
            failures.append(f"invoice {ref}: not in the books")
            continue
        named.add(iid)
        for key, value in want.items():
            if key != "ref" and after[iid].get(key) != value:
                failures.append(f"invoice {ref}: {key} is {after[iid].get(key)!r}, expected {value!r}")
    new = {i: v for i, v in after.items() if i not in before}
    unmatched = dict(new)
    for want in s.new_invoices:
        hit = next((i for i, v in unmatched.items() if all(v.get(k) == w for k, w in want.items())), None)
        if hit is None:
            failures.append(f"no new invoice like {want}; new ones: {list(new.values())}")
        else:
            unmatched.pop(hit)
    if unmatched:
        failures.append(f"unexpected new invoices: {list(unmatched.values())}")
    for iid, old in before.items():
        if iid not in named and after.get(iid) != old:
            failures.append(f"invoice {old['number'] or iid} changed: {old} -> {after.get(iid)}")
    return failures


def run(scenarios: list[Scenario], k: int = 4, model: BaseChatModel | str | None = None,
        settings: Settings | None = None, progress: Callable[[str, int, Trial], None] | None = None) -> Report:
    settings = settings or Settings()
    name = model if isinstance(model, str) else (type(model).__name__ if model else (settings.model or "offline"))
    tasks = [TaskResult(s) for s in scenarios]
    with books_templates() as templates:
        for task in tasks:
            for i in range(k):
                trial = run_trial(task.scenario, templates, model, settings)
                task.trials.append(trial)
                if progress:
                    progress(task.scenario.name, i + 1, trial)
    return Report(tasks, k, name)

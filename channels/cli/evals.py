"""`billable evals run`: score the agent on the scenarios in evals/scenarios (seed books, conversation, expected
books), k times each, and print pass^1, pass^k, model calls and tokens per task. `billable evals understanding`:
score the offline interpreter's reading of the request corpus in evals/understanding, per intent, on the
development and held-out parts, with the time a message takes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from channels.cli._common import console, guarded, settings

if TYPE_CHECKING:  # the evals (and the agent they run) are imported by these commands only: see channels/cli/chat.py
    from evals import Trial

app = typer.Typer(no_args_is_help=True, help="Score the chat agent on scenarios, tau2-bench style (pass^k).")


@app.command("run")
@guarded
def run_(model: str = typer.Option(None, "--model", help="A model name for BILLABLE_MODEL_BASE_URL (default: "
                                                        "BILLABLE_MODEL, else the offline interpreter)."),
         k: int = typer.Option(4, "-k", min=1, max=20, help="Runs per scenario."),
         only: str = typer.Option(None, "--only", help="Only scenarios whose name or tag contains this."),
         strict: bool = typer.Option(False, "--strict", help="Exit 1 unless every run of every scenario passed."),
         ) -> None:
    """Run every scenario k times on fresh SQLite books; a scenario passes when the books end exactly as expected
    and the replies state the facts they must."""
    from evals import load_scenarios, run
    scenarios = load_scenarios(only=only)
    if not scenarios:
        console.print("[yellow]No scenario matches.[/]")
        raise typer.Exit(1)
    s = settings()
    label = model or s.model or "offline interpreter"
    console.print(f"Running {len(scenarios)} scenarios × {k} with [bold]{label}[/] ...")

    def progress(name: str, i: int, trial: Trial) -> None:
        mark = "[green]✓[/]" if trial.passed else "[red]✗[/]"
        console.print(f"  {mark} {name} #{i} ({trial.seconds:.1f}s)", highlight=False)

    report = run(scenarios, k=k, model=model, settings=s, progress=progress)
    table = Table(title=f"billable evals · {label} · k={k}", box=box.SIMPLE_HEAVY)
    for col, justify in (("task", "left"), ("passed", "right"), ("pass^1", "right"), (f"pass^{k}", "right"),
                         ("model calls", "right"), ("tokens", "right"), ("first failure", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for t in report.tasks:
        n = len(t.trials)
        failure = next((f for tr in t.trials for f in tr.failures), "")
        calls, tokens = (sum(tr.model_calls for tr in t.trials) / n, sum(tr.tokens for tr in t.trials) / n)
        table.add_row(t.scenario.name, f"{t.passes}/{n}", f"{t.pass_hat(1):.2f}", f"{t.pass_hat(k):.2f}",
                      f"{calls:.1f}", f"{tokens:.0f}", failure[:90])
    console.print(table)
    calls = sum(tr.model_calls for t in report.tasks for tr in t.trials)
    tokens = sum(tr.tokens for t in report.tasks for tr in t.trials)
    console.print(f"[bold]pass^1 = {report.pass_hat(1):.3f}   pass^{k} = {report.pass_hat(k):.3f}[/]   "
                  f"({len(report.tasks)} tasks, {calls} model calls, {tokens} tokens in all)")
    understood = True
    if label == "offline interpreter":  # the interpreter's reading of the request corpus, too (under a second)
        understood = _understanding(misses=False)
    if strict and (any(tr.failures for t in report.tasks for tr in t.trials) or not understood):
        raise typer.Exit(1)


@app.command("understanding")
@guarded
def understanding(misses: bool = typer.Option(False, "--misses", help="List the development part's misses too "
                                                                         "(never the held-out part's: it is only "
                                                                         "scored)."),
                  strict: bool = typer.Option(False, "--strict", help="Exit 1 unless both parts meet their goals."),
                  ) -> None:
    """Per intent, the share of the corpus's requests understood with the right details (development and
    held-out parts), and the time interpreting one message takes (p50, p95: wall clock, and CPU time, which a
    busy machine does not inflate)."""
    if not _understanding(misses) and strict:
        raise typer.Exit(1)


def _understanding(misses: bool) -> bool:
    from evals import score_understanding
    from evals._understanding import GOALS, P95_GOAL_MS
    s = score_understanding()
    table = Table(title="billable evals understanding · offline interpreter", box=box.SIMPLE_HEAVY)
    for col in ("intent", "dev", "held-out"):
        table.add_column(col, justify="left" if col == "intent" else "right")
    intents = sorted({i for part in s.by_intent.values() for i in part})

    def cell(part: str, intent: str) -> str:
        ok, n = s.by_intent.get(part, {}).get(intent, [0, 0])
        return f"{ok}/{n}" if n else "-"

    for intent in intents:
        table.add_row(intent, cell("dev", intent), cell("held_out", intent))
    table.add_row("[bold]all[/]", f"[bold]{s.share('dev'):.1%}[/] of {s.count('dev')}",
                  f"[bold]{s.share('held_out'):.1%}[/] of {s.count('held_out')}")
    console.print(table)
    met = {part: s.share(part) >= goal for part, goal in GOALS.items()}
    console.print(f"understood: dev {s.share('dev'):.1%} (goal {GOALS['dev']:.0%}: "
                  f"{'[green]met[/]' if met['dev'] else '[red]missed[/]'}), held-out {s.share('held_out'):.1%} "
                  f"(goal {GOALS['held_out']:.0%}: {'[green]met[/]' if met['held_out'] else '[red]missed[/]'}); "
                  f"per message p50 {s.p(0.5):.2f} ms, p95 {s.p(0.95):.2f} ms wall (goal < {P95_GOAL_MS:.0f} ms), "
                  f"p95 {s.p(0.95, cpu=True):.2f} ms CPU", highlight=False)
    if misses:
        for m in s.misses:
            if m.request.part == "dev":
                console.print(f"  [red]✗[/] {m.request.text!r}: {'; '.join(m.why)}", highlight=False)
    return all(met.values())

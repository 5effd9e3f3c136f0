"""`billable evals run`: score the agent on the scenarios in evals/scenarios (seed books, conversation, expected
books), k times each, and print pass^1, pass^k, model calls and tokens per task."""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from channels.cli._common import console, guarded, settings
from evals import Trial, load_scenarios, run

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
    if strict and any(tr.failures for t in report.tasks for tr in t.trials):
        raise typer.Exit(1)

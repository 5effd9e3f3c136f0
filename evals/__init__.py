"""Agent evals (tau2-bench style): seed books, a conversation, and the books expected afterwards, compared as
data; each scenario run k times, scored pass^k. Scenarios are data files in evals/scenarios/*.toml.

    billable evals run [--model NAME] [-k 4] [--only WORD]
"""

from evals._runner import SCENARIOS, Report, Scenario, TaskResult, Trial, load_scenarios, run, run_trial
from evals._seed import NOW, SEEDS, Seeded

__all__ = ["NOW", "SCENARIOS", "SEEDS", "Report", "Scenario", "Seeded", "TaskResult", "Trial", "load_scenarios",
           "run", "run_trial"]

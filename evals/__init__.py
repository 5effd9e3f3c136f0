"""Agent evals (tau2-bench style): seed books, a conversation, and the books expected afterwards, compared as
data; each scenario run k times, scored pass^k. Scenarios are data files in evals/scenarios/*.toml.

    billable evals run [--model NAME] [-k 4] [--only WORD]
    billable evals understanding [--misses]     # the offline interpreter on evals/understanding/corpus.jsonl
"""

from evals._runner import SCENARIOS, Report, Scenario, TaskResult, Trial, load_scenarios, run, run_trial
from evals._seed import NOW, SEEDS, Seeded
from evals._understanding import Score as UnderstandingScore
from evals._understanding import score as score_understanding

__all__ = ["NOW", "SCENARIOS", "SEEDS", "Report", "Scenario", "Seeded", "TaskResult", "Trial", "UnderstandingScore",
           "load_scenarios", "run", "run_trial", "score_understanding"]

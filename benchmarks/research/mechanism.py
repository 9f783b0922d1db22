"""Why version 0.2 lost its edge with many trials at once: what TPE's good group held.

Runs the simulation of asynchronous.py with W = 16 on two problems and one seed, for version
0.2's Optuna backend (TPE's own good group: the best tenth of all trials told) and today's
(the best tenth of the successes while others run), and records, before every suggestion,
what the inner Optuna study holds: trials told, successes among them, trials pending, and the
good group's size; and then what the suggestion did. Printed per stretch of wall time.

    python -m benchmarks.research.mechanism
"""

from __future__ import annotations

import heapq
import math
import os
from typing import Any, Dict, List

from benchmarks.asynchronous import MIN_DURATION, budget
from benchmarks.published import ALL_PROBLEMS
from benchmarks.research.variants import ALL_METHODS

HERE = os.path.dirname(os.path.abspath(__file__))


def _optuna_default_gamma(n: int) -> int:
    """Optuna's default good-group size for ``n`` trials, as its ``TPESampler`` documents it."""
    return min(math.ceil(0.1 * n), 25)


def trace(problem_name: str, method_name: str, seed: int = 0, workers: int = 16) -> List[Dict[str, Any]]:
    """One simulated run; per suggestion: the time, what the study held, and the outcome."""
    from optuna.trial import TrialState

    from ray_graded_penalty.backends.optuna import OptunaView, tpe_gamma

    problem = ALL_PROBLEMS[problem_name]
    method = ALL_METHODS[method_name](seed)
    method.setup(problem.space, problem.mode)
    view = OptunaView(method.searcher.searcher)
    horizon = budget(workers) / workers
    running: List[tuple] = []
    rows: List[Dict[str, Any]] = []

    def launch(now: float) -> None:
        study = view.study
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
        told = [t for t in trials if t.state == TrialState.COMPLETE]
        # A failure carries the package's user attributes (as a dashboard shows them).
        successes = sum("graded_penalty.kind" not in t.user_attrs for t in told)
        pending = len(trials) - len(told)
        gamma = tpe_gamma(view.sampler) or _optuna_default_gamma
        if hasattr(gamma, "pending"):  # the package's GoodGroupSize counts before it is asked
            gamma.successes, gamma.pending = successes, pending
        good = gamma(len(told)) if told else 0
        config = method.suggest(f"t{len(rows)}")
        outcome = problem.evaluate(config)
        heapq.heappush(running, (now + max(outcome.fraction, MIN_DURATION), len(rows), f"t{len(rows)}", outcome))
        rows.append({"t": now, "told": len(told), "successes": successes, "pending": pending, "good": good,
                     "good_successes": min(good, successes), "value": outcome.value, "error": outcome.error})

    for _ in range(workers):
        launch(0.0)
    while running:
        end, _, trial_id, outcome = heapq.heappop(running)
        if end > horizon:
            break
        method.tell(trial_id, outcome)
        launch(end)
    return rows


def stretches(problem_name: str, rows: List[Dict[str, Any]], mode: str, width: float = 0.5) -> List[str]:
    lines = ["| wall time (timeouts) | suggestions | failing | deploy failures | told: successes / all "
             "| good group | best so far |",
             "|---|---|---|---|---|---|---|"]
    best = None
    start = 0.0
    while True:
        chunk = [r for r in rows if start <= r["t"] < start + width]
        if not chunk:
            break
        for r in chunk:
            if r["value"] is not None and (best is None or (r["value"] > best if mode == "max" else r["value"] < best)):
                best = r["value"]
        last = chunk[-1]
        failing = sum(r["value"] is None for r in chunk)
        deploy = sum("Deployment failed" in r["error"] for r in chunk)
        lines.append(f"| {start:.1f}-{start + width:.1f} | {len(chunk)} | {failing} | {deploy} | "
                     f"{last['successes']} / {last['told']} | {last['good']} ({last['good_successes']} successes) "
                     f"| {'-' if best is None else f'{best:.4g}'} |")
        start += width
    return lines


CASES = [(p, m) for p in ("llm_serving", "pressure_vessel") for m in ("graded_optuna_0.2", "graded_optuna")]


def traces() -> Dict[str, List[str]]:
    """The tables for RESULTS.md, keyed "problem, method"."""
    return {f"{p}, {m}": stretches(p, trace(p, m), ALL_PROBLEMS[p].mode) for p, m in CASES}


def main() -> int:
    for key, lines in traces().items():
        print(f"\n{key}, W = 16, seed 0\n")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

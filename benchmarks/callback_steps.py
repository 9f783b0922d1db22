"""What the callback costs at each of Tune's steps, with many trials in the run.

Tune gives a callback no event for a trial it ends itself (its time budget, ``fail_fast``, an
actor that cannot start), so ``GradedPenaltyCallback.on_step_end`` reads every trial's status at
each step; ``on_step_begin`` reads the started ones for the watchdog. Both run once a step of
``TuneController``, which steps whenever an event arrives or its wait times out. This times the
two with N trials, all ended but ``--running`` of them, in the steady state (every ended trial
heard of), on Tune's own ``Trial`` objects (stubs: no trainable); the searcher behind it does
nothing, so the figure is the callback's own. Beside it, one scan Tune itself makes of the same
trials at each step (``TuneController.is_finished``: is every trial finished)::

    python -m benchmarks.callback_steps --trials 100,1000,10000 --out benchmarks/callback_steps.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from ray.tune.experiment import Trial

from ray_graded_penalty.callback import GradedPenaltyCallback


class _Nobody:
    """A ``TrialEvents`` that does nothing."""

    def callback_attached(self) -> None: ...
    def stops_at_iteration(self, iterations: int) -> None: ...
    def trial_started(self, trial_id: str) -> None: ...
    def trial_resumed(self, trial_id: str) -> None: ...
    def trial_timed_out(self, trial_id: str, stage: Optional[str] = None) -> None: ...
    def trial_errored(self, trial_id: str, evidence: Any) -> None: ...
    def trial_stopped(self, trial_id: str) -> None: ...
    def search_ended(self) -> None: ...
    def experiment_ended(self) -> None: ...

    def already_told(self, trial_id: str) -> bool:
        return False


def _trials(n: int, status: str) -> List[Trial]:
    made = [Trial("__benchmark", stub=True) for _ in range(n)]
    for trial in made:
        trial.set_status(status)
    return made


def _median_per_step(step: Callable[[int], Any], steps: int) -> float:
    """Seconds a step takes: the median of five batches of ``steps``."""
    batches = []
    for _ in range(5):
        started = time.perf_counter()
        for i in range(steps):
            step(i)
        batches.append((time.perf_counter() - started) / steps)
    return statistics.median(batches)


def time_steps(trials: int, running: int, steps: int) -> Dict[str, float]:
    """Milliseconds a step of the callback takes, and one of Tune's own scans, with ``trials``."""
    callback = GradedPenaltyCallback(_Nobody(), timeout_s=3600)
    callback.setup(total_num_samples=trials + 1)  # one more to come: the search has not ended
    # Ended before the run began (a restored run's), so that no Ray call is made for them.
    run = _trials(trials - running, "TERMINATED")
    callback.on_step_begin(0, run)
    live = _trials(running, "RUNNING")  # no actor: the watchdog only reads them
    run += live
    for trial in live:
        callback.on_trial_start(0, run, trial)
    callback.on_step_end(0, run)  # the ended ones are heard of, once

    def step(i: int) -> None:
        callback.on_step_begin(i, run)
        callback.on_step_end(i, run)

    ours = _median_per_step(step, steps)
    tunes = _median_per_step(lambda i: all(t.is_finished() for t in run), steps)
    return {"trials": trials, "running": running, "ms_per_step": 1e3 * ours, "tune_is_finished_ms": 1e3 * tunes}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", default="100,1000,10000")
    parser.add_argument("--running", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default=None)
    parser.add_argument("--note", default="", help="what else ran on the machine meanwhile")
    args = parser.parse_args(argv)
    rows = [time_steps(int(n), args.running, args.steps) for n in args.trials.split(",")]
    for row in rows:
        print(f"{row['trials']:>6} trials, {row['running']} running: {row['ms_per_step']:.3f} ms a step "
              f"(Tune's is_finished scan: {row['tune_is_finished_ms']:.3f} ms)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": "python -m benchmarks.callback_steps " + " ".join(argv or sys.argv[1:]),
                       "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
                       "note": args.note, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

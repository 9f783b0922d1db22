"""Issue 27: can the grade reach TPE once it has enough successes? (Research; nothing shipped.)

**Where the grade enters today.** The Optuna backend tells each failure as an infeasible trial
ranked by its severity. Optuna's TPE splits the trials into a good group (the best ``gamma(n)``:
feasible trials first, then the least infeasible) and a bad group (the rest, and the running
trials under the constant liar), and weighs the bad group's kernels by recency only
(``default_weights``: equal below 25 trials, a ramp over the oldest beyond). So the order of the
failures matters only while the good group has room for failures, i.e. while fewer than
``gamma(n)`` trials have succeeded; after that every failure is a kernel of weight 1 in the bad
group, whatever its grade. :func:`trace` shows it suggestion by suggestion.

**The candidates** change one thing: the weights of the failures' kernels in the bad group,
``default_weights(n) x f``, with ``f`` normalised to a mean of 1 over the group's failures (the
failures' total weight, and so the weight of the successes and running trials against them,
is TPE's own; only how it is shared among the failures changes). For every problem the same
function:

- ``weights_by_severity``: ``f = 1 + 2 (m - m_lo) / (m_hi - m_lo)``, ``m`` the failure's penalty
  magnitude as told, over the failures in the group (1 to 3: the worst weighs three times the
  least bad); equal magnitudes give ``f = 1``, so the flat policy is unchanged by it.
- ``weights_by_progress``: ``f = 1 + 2 (1 - c)``, ``c`` the failure's completion (how far it got
  against the timeout; 1 to 3: a crash at start weighs three times a timeout).

The mechanism they bet on: in constrained problems the optimum usually lies on the feasible
boundary, and a failure that got far (low severity) lies nearer it than one that crashed at
start. Weighing the severe failures more pushes the bad-group density, and so TPE's proposals,
away from the regions that crash early and less away from the boundary.

This is the one benchmark module besides ``optuna_variants.py`` that reads Optuna's TPE
internals (it overrides the private ``_build_parzen_estimator``); it reads the package's own
trial attributes (``graded_penalty.penalty``, ``graded_penalty.completion``) from the study.

Run: ``python -m benchmarks.research.grade_weights --workers 1,16 --seeds 30`` (the table, with
sign tests against the flat and the shipped default policy), ``... --problems
llama_server_recorded,llama_server_gpu`` (the recorded serving space of issue 25),
``... --trace`` (the mechanism).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import optuna

from benchmarks.methods import FLAT, Method
from benchmarks.research.variants import _graded_tpe
from ray_graded_penalty import PenaltyPolicy

PROBLEMS = ("branin_discs", "llm_serving", "mostly_fail", "latency_ms", "pressure_vessel", "welded_beam",
            "spring", "speed_reducer", "three_bar_truss", "gramacy")
BASES = ("graded_optuna", "flat_penalty")
#: The recorded llama-server space of issue 25 at its two costs (``benchmarks/serving_space``).
SERVING = "llama_server_"
SERVING_PROBLEMS = (SERVING + "recorded", SERVING + "gpu")


def _by_severity(attrs: Sequence[Dict[str, Any]]) -> np.ndarray:
    m = np.array([abs(a["graded_penalty.penalty"]) for a in attrs], dtype=float)
    spread = m.max() - m.min()
    return np.ones(len(m)) if spread <= 0 else 1.0 + 2.0 * (m - m.min()) / spread


def _by_progress(attrs: Sequence[Dict[str, Any]]) -> np.ndarray:
    return 1.0 + 2.0 * (1.0 - np.array([a["graded_penalty.completion"] for a in attrs], dtype=float))


def failure_factors(trials: Sequence[Any], by: Callable[[Sequence[Dict[str, Any]]], np.ndarray]) -> np.ndarray:
    """Each trial's factor on its kernel weight: ``by``'s, with mean 1 over the failures; 1 for the rest."""
    factors = np.ones(len(trials))
    failed = [i for i, t in enumerate(trials) if "graded_penalty.penalty" in t.user_attrs]
    if len(failed) > 1:
        f = by([trials[i].user_attrs for i in failed])
        factors[failed] = f / f.mean()
    return factors


class GradeWeightedTPE(optuna.samplers.TPESampler):
    """The Optuna backend's TPE with the bad group's failure kernels weighted by ``by``; with
    ``record``, what each split held (for :func:`trace`)."""

    def __init__(self, by: Optional[Callable[[Sequence[Dict[str, Any]]], np.ndarray]], record: Optional[list],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._by, self._record = by, record

    def _build_parzen_estimator(self, study: Any, search_space: Any, trials: List[Any], handle_below: bool) -> Any:
        if self._record is not None:
            self._note(trials, handle_below)
        if handle_below or self._by is None or not trials:
            return super()._build_parzen_estimator(study, search_space, trials, handle_below)
        weights = self._parzen_estimator_parameters.weights(len(trials)) * failure_factors(trials, self._by)
        observations = self._get_internal_repr(trials, search_space, study)
        return self._parzen_estimator_cls(observations, search_space, self._parzen_estimator_parameters, weights)

    def _note(self, trials: List[Any], below: bool) -> None:
        failed = [t for t in trials if "graded_penalty.penalty" in t.user_attrs]
        entry = {"trials": len(trials), "failures": len(failed),
                 "magnitudes": sorted({abs(t.user_attrs["graded_penalty.penalty"]) for t in failed})}
        if below:
            self._record.append({"below": entry})
        else:
            self._record[-1]["above"] = entry


def _method(by: Optional[Callable], policy: Optional[PenaltyPolicy] = None, record: Optional[list] = None):
    return lambda seed: _graded_tpe(seed, good_group=True, sampler=partial(GradeWeightedTPE, by, record),
                                    policy=policy)


def serving_methods() -> Dict[str, Callable[[int], Method]]:
    """The recorded llama-server space's methods (``benchmarks/serving_space``, its SLO
    included) and the candidates on it, built as its ``graded_optuna`` is."""
    from benchmarks.serving_space import replay
    from benchmarks.slo_bench import SLOMethod

    def weighted(by: Optional[Callable]) -> Callable[[int], Method]:
        return lambda seed: SLOMethod(_graded_tpe(seed, good_group=True, sampler=partial(GradeWeightedTPE, by, None),
                                                  slos=replay.SLOS).searcher, "graded", slos=replay.SLOS)

    return {**replay.methods(), "unweighted": weighted(None), "weights_by_severity": weighted(_by_severity),
            "weights_by_progress": weighted(_by_progress)}


VARIANTS: Dict[str, Callable[[int], Method]] = {
    "weights_by_severity": _method(_by_severity),
    "weights_by_progress": _method(_by_progress),
    "flat_weights_by_severity": _method(_by_severity, FLAT),  # must equal flat_penalty: a check
}


def _run(args: tuple) -> Dict[str, Any]:
    from benchmarks.asynchronous import regret_at, simulate
    from benchmarks.methods import METHODS

    problem, method, seed, workers = args
    run = simulate(problem, method, seed, workers, methods={**METHODS, **VARIANTS})
    return {"problem": problem, "method": method, "seed": seed, "workers": workers, "regret": regret_at(run),
            "trials": len(run["trials"]), "failed": sum(t["value"] is None for t in run["trials"])}


def _serving_run(args: tuple) -> Dict[str, Any]:
    """One replay on the recorded llama-server space; its regret: the space's best SLO-meeting
    throughput less the run's."""
    from benchmarks.serving_space import replay

    problem, method, seed, workers = args
    run = replay.run_one(problem[len(SERVING):], method, seed, workers, catalog=serving_methods())
    return {"problem": problem, "method": method, "seed": seed, "workers": workers,
            "regret": replay.best_possible() - replay.best(run), "trials": len(run["trials"]),
            "failed": sum(t["value"] is None for t in run["trials"])}


def measure(workers: Sequence[int], seeds: int, problems: Sequence[str] = PROBLEMS,
            methods: Sequence[str] = (*BASES, "weights_by_severity", "weights_by_progress")) -> List[Dict[str, Any]]:
    """Every run: ``problems`` are the benchmark's, or the recorded serving space's (``SERVING_PROBLEMS``)."""
    from benchmarks.pool import process_pool

    jobs = [(p, m, s, w) for w in workers for p in problems for m in methods for s in range(seeds)]
    with process_pool(2) as pool:
        return list(pool.map(_job, jobs, chunksize=4))


def _job(args: tuple) -> Dict[str, Any]:
    return (_serving_run if args[0].startswith(SERVING) else _run)(args)


def _regrets(runs: List[Dict[str, Any]]) -> Dict[tuple, Dict[int, float]]:
    """Each run's regret by (W, problem, method), then seed."""
    regrets: Dict[tuple, Dict[int, float]] = {}
    for r in runs:
        regrets.setdefault((r["workers"], r["problem"], r["method"]), {})[r["seed"]] = r["regret"]
    return regrets


def _versus(regrets: Dict[tuple, Dict[int, float]], w: int, p: str, method: str, base: str) -> str:
    """``method``'s seeds better / worse / level than ``base``'s at W = ``w`` on ``p``, and the exact sign test's p."""
    from benchmarks.concurrency_report import paired_counts, sign_test

    seeds = sorted(regrets[(w, p, method)])
    won, lost, level = paired_counts([regrets[(w, p, method)][s] for s in seeds],
                                     [regrets[(w, p, base)][s] for s in seeds])
    return f"{won}/{lost}/{level}, p {sign_test(won, lost):.2g}"


def table(runs: List[Dict[str, Any]]) -> List[str]:
    """Per W and problem: median regret of each method (and its ratio to the default's); each
    variant's seeds better / worse / level against the default and the flat policy, with the
    exact sign test's p."""
    from benchmarks.concurrency_report import ratio

    regrets = _regrets(runs)
    methods = sorted({r["method"] for r in runs}, key=[*BASES, *VARIANTS].index)
    variants = [m for m in methods if m not in BASES]
    head = ["W", "problem", *(f"`{m}` median" for m in methods),
            *(f"`{v}` vs `{b}`" for v in variants for b in BASES)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in sorted({r["workers"] for r in runs}):
        for p in [p for p in PROBLEMS if any(k[:2] == (w, p) for k in regrets)]:
            medians = {m: statistics.median(regrets[(w, p, m)].values()) for m in methods}
            cells = [str(w), p] + [f"{medians[m]:.4g}" + ("" if m == BASES[0] else
                                                          f" ({ratio(medians[m], medians[BASES[0]]):.2f}x)")
                                   for m in methods]
            cells += [_versus(regrets, w, p, v, b) for v in variants for b in BASES]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def serving_table(runs: List[Dict[str, Any]]) -> List[str]:
    """Runs on the recorded serving space, where the median regret is 0 for every method (most
    seeds find the space's best): per W and cost, each method's seeds at the best and mean
    regret (tok/s below the best), and each candidate's seeds better / worse / level against
    the default, with the exact sign test's p."""
    regrets = _regrets(runs)
    methods = sorted({k[2] for k in regrets}, key=[*BASES, *VARIANTS].index)
    variants = [m for m in methods if m not in BASES]
    head = ["W", "cost", *(f"`{m}`: seeds at the best, mean regret" for m in methods),
            *(f"`{v}` vs `{BASES[0]}`" for v in variants)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in sorted({k[0] for k in regrets}):
        for p in [p for p in SERVING_PROBLEMS if (w, p, BASES[0]) in regrets]:
            cells = [str(w), p[len(SERVING):]]
            for m in methods:
                values = regrets[(w, p, m)].values()
                cells.append(f"{sum(v <= 1e-9 for v in values)}/{len(values)}, {statistics.mean(values):.3f}")
            cells += [_versus(regrets, w, p, v, BASES[0]) for v in variants]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def trace(problems: Sequence[str] = ("mostly_fail", "pressure_vessel"), seeds: int = 5) -> List[str]:
    """What the good (below) and bad (above) groups held at each suggestion, one trial at a time
    under the default policy, in four stretches of the run."""
    from benchmarks.asynchronous import simulate

    lines = ["| problem | suggestions | good group: trials, of them failures | bad group: trials, of them failures "
             "| distinct magnitudes among the bad group's failures | suggestions whose good group held a failure |",
             "|---|---|---|---|---|---|"]
    for p in problems:
        stretches: Dict[int, List[dict]] = {}
        for seed in range(seeds):
            record: list = []
            simulate(p, "traced", seed, 1, methods={"traced": _method(None, record=record)})
            for i, entry in enumerate(e for e in record if "above" in e):
                stretches.setdefault(min(i // 25, 3), []).append(entry)
        for k, entries in sorted(stretches.items()):
            def mean(group: str, key: str) -> float:
                return statistics.mean(e[group][key] for e in entries)

            lines.append(
                f"| {p} | {11 + 25 * k}-{'' if k == 3 else 10 + 25 * (k + 1)} | "
                f"{mean('below', 'trials'):.1f}, {mean('below', 'failures'):.2f} | "
                f"{mean('above', 'trials'):.1f}, {mean('above', 'failures'):.1f} | "
                f"{statistics.mean(len(e['above']['magnitudes']) for e in entries):.1f} | "
                f"{sum(e['below']['failures'] > 0 for e in entries)} of {len(entries)} |")
    return lines


def _tables(runs: List[Dict[str, Any]]) -> List[str]:
    """:func:`table` of the benchmark's problems, then :func:`serving_table` of the serving space's."""
    serving = [r for r in runs if r["problem"] in SERVING_PROBLEMS]
    others = [r for r in runs if r["problem"] not in SERVING_PROBLEMS]
    return (table(others) if others else []) + (["", *serving_table(serving)] if serving else [])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--problems", default=",".join(PROBLEMS),
                        help=f"the benchmark's (default), or {','.join(SERVING_PROBLEMS)}")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--out", help="where to write every run's regret (JSON)")
    parser.add_argument("--table-from", help="print the table of runs written before with --out (several files: "
                        "comma-separated, e.g. one per problem), running nothing")
    args = parser.parse_args(argv)
    started = time.time()
    if args.trace:
        print("\n".join(trace()))
    elif args.table_from:
        runs = []
        for path in args.table_from.split(","):
            with open(path) as f:
                runs += json.load(f)
        print("\n".join(_tables(runs)))
    else:
        runs = measure([int(w) for w in args.workers.split(",")], args.seeds, args.problems.split(","))
        if args.out:
            with open(args.out, "w") as f:
                json.dump(runs, f)
        print("\n".join(_tables(runs)))
    print(f"\n({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

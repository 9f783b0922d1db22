"""SLOs and two objectives on the simulated LLM server (``llm_serving`` with its latencies).

A config that serves reports its throughput, its p99 time per token and its time to first
token. The SLOs: p99 <= 35 ms and time to first token <= 0.8 s, each failing the trial at
twice its bound (``fail_ratio=1.0``). Crashes are ``llm_serving``'s own.

Methods (one objective, throughput, with the SLOs):

- ``graded_slo``: this package with ``slos=[...]``.
- ``optuna_search_drop``: Ray's ``OptunaSearch``; a crash or an SLO miss is reported as an
  error (``FAIL``), as a user without this package would.
- ``infinite_penalty``: ``OptunaSearch`` told minus infinity for a crash or an SLO miss.
- ``companion``: the seed design's companion scheme: this package grades crashes, and a
  success that misses SLOs is told ``throughput / (1 + sum of weight x exp(miss / 0.1))``
  (the document multiplies a score to minimize; for a throughput to maximize it divides).

Two objectives (throughput up, p99 down, the time-to-first-token SLO kept): ``graded_slo``
with ``metric=["value", "p99_latency_s"]`` against ``OptunaSearch`` on both with crashes and
SLO misses dropped, and told infinitely bad. Measured: the hypervolume of the SLO-meeting
front, as a share of the front a dense grid finds.
"""

from __future__ import annotations

import math
import statistics
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

import optuna
from ray.tune.search.optuna import OptunaSearch

from benchmarks.methods import TIMEOUT_S, Method, record_failure
from benchmarks.problems import LLM_SERVING, Outcome, _serving
from ray_graded_penalty import SLO, GradedPenaltySearcher

SLOS = (SLO("p99_latency_s", max=0.035, fail_ratio=1.0), SLO("ttft_s", max=0.8, fail_ratio=1.0))
TWO = ("value", "p99_latency_s")
P99_REFERENCE = 0.07  # the hypervolume's reference point: no throughput, the p99 that fails
CHECKPOINTS = (25, 50, 100)


def _result(outcome: Outcome) -> Dict[str, float]:
    return {"value": outcome.value, **(outcome.metrics or {})}


def _miss(result: Dict[str, float], slos=SLOS) -> Tuple[float, bool]:
    """(weighted total miss, failed by an SLO)."""
    total, failed = 0.0, False
    for slo in slos:
        miss = slo.miss(result[slo.metric])
        failed = failed or (slo.fail_ratio is not None and miss >= slo.fail_ratio)
        total += slo.weight * miss
    return total, failed


class SLOMethod(Method):
    """A method told whole results: ``kind`` says what it does with a crash or an SLO miss."""

    def __init__(self, searcher, kind: str, slos=SLOS, objectives=("value",)):
        super().__init__(searcher, tell_failure=None)  # type: ignore[arg-type]
        self.kind, self.slos, self.objectives = kind, slos, objectives

    def setup(self, space, mode) -> None:
        if len(self.objectives) == 1:
            self.searcher.set_search_properties("value", mode, space)
        else:
            self.searcher.set_search_properties(None, None, space)

    def tell(self, trial_id: str, outcome: Outcome) -> None:
        s = self.searcher
        if outcome.failed:
            if self.kind in ("graded", "companion"):
                s.on_trial_complete(trial_id, error=True)
                record_failure(s, trial_id, outcome)
            elif self.kind == "drop":
                s.on_trial_complete(trial_id, error=True)
            else:  # infinite
                s.on_trial_complete(trial_id, result=self._worst())
            return
        result = _result(outcome)
        total, failed = _miss(result, self.slos)
        if self.kind == "graded":
            s.on_trial_complete(trial_id, result=result)
        elif total > 0 and self.kind == "drop":
            s.on_trial_complete(trial_id, error=True)
        elif total > 0 and self.kind == "infinite":
            s.on_trial_complete(trial_id, result=self._worst())
        elif total > 0 and self.kind == "companion":
            factor = 1 + sum(slo.weight * math.exp(slo.miss(result[slo.metric]) / 0.1)
                             for slo in self.slos if slo.miss(result[slo.metric]) > 0)
            s.on_trial_complete(trial_id, result={"value": result["value"] / factor})
        else:
            s.on_trial_complete(trial_id, result=result)

    def _worst(self) -> Dict[str, float]:
        return {m: (-math.inf if m == "value" else math.inf) for m in self.objectives}


def _optuna(seed: int, objectives=("value",)) -> OptunaSearch:
    if len(objectives) == 1:
        return OptunaSearch(seed=seed)
    return OptunaSearch(metric=list(objectives), mode=["max", "min"], seed=seed)


SLO_METHODS = {
    "graded_slo": lambda seed: SLOMethod(GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed,
                                                               slos=SLOS), "graded"),
    "optuna_search_drop": lambda seed: SLOMethod(_optuna(seed), "drop"),
    "infinite_penalty": lambda seed: SLOMethod(_optuna(seed), "infinite"),
    "companion": lambda seed: SLOMethod(GradedPenaltySearcher("optuna", trial_timeout_s=TIMEOUT_S, seed=seed),
                                        "companion"),
}
TTFT = (SLOS[1],)
TWO_METHODS = {
    "graded_slo": lambda seed: SLOMethod(GradedPenaltySearcher(
        "optuna", trial_timeout_s=TIMEOUT_S, seed=seed, metric=list(TWO), mode=["max", "min"], slos=TTFT,
    ), "graded", slos=TTFT, objectives=TWO),
    "optuna_search_drop": lambda seed: SLOMethod(_optuna(seed, TWO), "drop", slos=TTFT, objectives=TWO),
    "infinite_penalty": lambda seed: SLOMethod(_optuna(seed, TWO), "infinite", slos=TTFT, objectives=TWO),
}


def run_slo(method_name: str, seed: int, trials: int, two: bool = False) -> List[Optional[Dict[str, float]]]:
    """Sequential trials; the SLO-meeting results (None for the rest), in order."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    method = (TWO_METHODS if two else SLO_METHODS)[method_name](seed)
    method.setup(LLM_SERVING.space, "max")
    slos = TTFT if two else SLOS
    record = []
    for i in range(trials):
        trial_id = f"{seed}-{i}"
        outcome = LLM_SERVING.evaluate(method.suggest(trial_id))
        method.tell(trial_id, outcome)
        record.append(None if outcome.failed or _miss(_result(outcome), slos)[0] > 0 else _result(outcome))
    return record


def hypervolume(points: List[Tuple[float, float]]) -> float:
    """Area dominated by (throughput up, p99 down) points, from (0, P99_REFERENCE)."""
    front = sorted((t, p) for t, p in points if t > 0 and p < P99_REFERENCE)
    area, best_p = 0.0, P99_REFERENCE
    for t, p in reversed(front):  # from the highest throughput down
        if p < best_p:
            area += t * (best_p - p)
            best_p = p
    return area


@lru_cache(maxsize=None)
def references() -> Tuple[float, float]:
    """The best SLO-meeting throughput, and the hypervolume of the SLO-meeting front, on a
    dense grid (every tensor-parallel degree and chunk, fractions in steps of 0.01, every
    max_num_seqs up to 1023 in steps of 4)."""
    best, points = 0.0, []
    for tp in LLM_SERVING.space["tensor_parallel"].categories:
        for chunk in LLM_SERVING.space["chunked_prefill"].categories:
            for f100 in range(50, 96):
                for seqs in range(1, 1024, 4):
                    outcome = _serving({"tensor_parallel": tp, "gpu_memory_fraction": f100 / 100,
                                        "max_num_seqs": seqs, "chunked_prefill": chunk})
                    if outcome.failed:
                        continue
                    result = _result(outcome)
                    if _miss(result, SLOS)[0] == 0:
                        best = max(best, result["value"])
                    if _miss(result, TTFT)[0] == 0:
                        points.append((result["value"], result["p99_latency_s"]))
    return best, hypervolume(points)


def summarize_slo(seeds: int, trials: int, pool: Any) -> Dict[str, Any]:
    best_ref, hv_ref = references()
    jobs = [(m, s, trials, False) for m in SLO_METHODS for s in range(seeds)]
    jobs += [(m, s, trials, True) for m in TWO_METHODS for s in range(seeds)]
    runs = list(pool.map(_slo_job, jobs))
    out: Dict[str, Any] = {"best_reference": best_ref, "hv_reference": hv_ref, "seeds": seeds, "trials": trials,
                           "one": {}, "two": {}}
    for (method, seed, _, two), record in zip(jobs, runs):
        key = "two" if two else "one"
        out[key].setdefault(method, []).append(record)
    for method, records in out["one"].items():
        row = {}
        for n in [c for c in CHECKPOINTS if c <= trials] or [trials]:
            bests = [max((r["value"] for r in rec[:n] if r), default=0.0) for rec in records]
            row[f"best@{n}"] = statistics.median(bests)
            row[f"share@{n}"] = statistics.median(b / best_ref for b in bests)
        row["meeting_share"] = statistics.mean(sum(r is not None for r in rec) / len(rec) for rec in records)
        out["one"][method] = row
    for method, records in out["two"].items():
        hvs = [hypervolume([(r["value"], r["p99_latency_s"]) for r in rec if r]) / hv_ref for rec in records]
        out["two"][method] = {"hv_share": statistics.median(hvs), "hv_by_seed": hvs}
    return out


def _slo_job(args: tuple) -> List[Optional[Dict[str, float]]]:
    return run_slo(*args)


def _async_job(args: tuple) -> float:
    """The best SLO-meeting throughput one method finds with W trials at once, at equal GPU time."""
    from benchmarks.asynchronous import simulate

    method, seed, workers = args
    run = simulate("llm_serving", method, seed, workers, methods=SLO_METHODS)
    meeting = [t["value"] for t in run["trials"]
               if t["value"] is not None and _miss({"value": t["value"], **t["metrics"]}, SLOS)[0] == 0]
    return max(meeting, default=0.0)


def summarize_slo_concurrent(seeds: int, workers: int, pool: Any) -> Dict[str, Any]:
    best_ref, _ = references()
    jobs = [(m, s, workers) for m in SLO_METHODS for s in range(seeds)]
    bests = list(pool.map(_async_job, jobs))
    out: Dict[str, Any] = {"workers": workers, "seeds": seeds}
    for method in SLO_METHODS:
        mine = [b for (m, _, _), b in zip(jobs, bests) if m == method]
        out[method] = {"best": statistics.median(mine), "share": statistics.median(b / best_ref for b in mine)}
    return out

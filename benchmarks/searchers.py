"""Any searcher, wrapped against bare: does putting a user's own searcher inside
``GradedPenaltySearcher`` ever make it worse?

    python -m benchmarks.searchers                              # every searcher, W = 1 and 16, 20 seeds
    python -m benchmarks.searchers --searchers gp --workers 1 --note "why"  # some cells, into the record
    python -m benchmarks.searchers --searchers gp --seeds 10 --first-seed 10 --out new.json  # apart
    python -m benchmarks.searchers --join benchmarks/searchers.json,new.json --note "..."  # those seeds added
    python -m benchmarks.searchers --table-from a.json,b.json   # the table of runs made apart

A run goes into the record, ``searchers.json`` (``--into``): its cells replace the record's
cells and the run is listed with ``--note``; with ``--out`` it is written apart instead.

For each searcher a Ray user may already have (Optuna's TPE, GP, CMA-ES and QMC samplers in
Ray's ``OptunaSearch``; Ray's ``HyperOptSearch``), the same searcher with the same seed runs
bare (a failed trial dropped, as Ray does) and wrapped (the failure graded and told), in the
many-at-once simulation of ``asynchronous.py`` on every problem with a known optimum. Per seed,
the regret at the end of the GPU budget decides which of the two was better; the table gives
seeds better/worse/level for the wrapped one and the two-sided sign test's p.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional

import optuna
from ray.tune.search import Searcher

from benchmarks.asynchronous import run_grid
from benchmarks.concurrency_report import paired_counts, sign_test
from benchmarks.methods import TIMEOUT_S, Method, _dropped, _graded
from benchmarks.pool import process_pool
from benchmarks.published import ALL_PROBLEMS
from ray_graded_penalty import GradedPenaltySearcher

HERE = os.path.dirname(os.path.abspath(__file__))
warnings.filterwarnings("ignore", module="optuna")  # CmaEsSampler's per-trial fallback notes, experimental features
optuna.logging.set_verbosity(optuna.logging.ERROR)


def _optuna(sampler: Callable[[int], optuna.samplers.BaseSampler]) -> Callable[[int], Searcher]:
    def make(seed: int) -> Searcher:
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(sampler=sampler(seed))
    return make


def _hyperopt(seed: int) -> Searcher:
    from ray.tune.search.hyperopt import HyperOptSearch

    return HyperOptSearch(random_state_seed=seed)


def _nevergrad(seed: int) -> Searcher:
    import nevergrad as ng
    import numpy as np
    from ray.tune.search.nevergrad import NevergradSearch

    np.random.seed(seed)  # nevergrad draws its parametrization's random state from NumPy's global one
    return NevergradSearch(optimizer=ng.optimizers.OnePlusOne)


def _bayesopt(seed: int) -> Searcher:
    from ray.tune.search.bayesopt import BayesOptSearch

    return BayesOptSearch(random_state=seed)


#: Each searcher as a user builds it, with Ray's and Optuna's defaults and a seed.
SEARCHERS: Dict[str, Callable[[int], Searcher]] = {
    "tpe": _optuna(lambda seed: optuna.samplers.TPESampler(seed=seed)),
    "gp": _optuna(lambda seed: optuna.samplers.GPSampler(seed=seed)),
    "cmaes": _optuna(lambda seed: optuna.samplers.CmaEsSampler(seed=seed)),
    "qmc": _optuna(lambda seed: optuna.samplers.QMCSampler(seed=seed)),
    "hyperopt_search": _hyperopt,
    "nevergrad": _nevergrad,
    "bayesopt": _bayesopt,
}
#: Searchers that take only some spaces: BayesOptSearch takes real-valued parameters only.
ONLY_FLOATS = ("bayesopt",)


def _one_thread() -> None:
    """Each worker process computes on one thread: GPSampler's torch and BayesOpt's BLAS otherwise
    start a thread per core in every process, and two processes on two cores then run a GP run at
    about half the speed (measured: one welded_beam run alone, 20 s on one thread, 33 s on two)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def _takes(searcher: str, problem: str) -> bool:
    from ray.tune.search.sample import Float

    return searcher not in ONLY_FLOATS or all(isinstance(d, Float) for d in ALL_PROBLEMS[problem].space.values())


def _bare(make: Callable[[int], Searcher]) -> Callable[[int], Method]:
    return lambda seed: Method(make(seed), _dropped)


def _wrapped(make: Callable[[int], Searcher]) -> Callable[[int], Method]:
    return lambda seed: Method(GradedPenaltySearcher(make(seed), trial_timeout_s=TIMEOUT_S), _graded)


#: The methods a worker process runs, by name: ``bare:<searcher>`` and ``wrapped:<searcher>``.
METHODS: Dict[str, Callable[[int], Method]] = {
    **{f"bare:{name}": _bare(make) for name, make in SEARCHERS.items()},
    **{f"wrapped:{name}": _wrapped(make) for name, make in SEARCHERS.items()},
}
CATALOG = "benchmarks.searchers:METHODS"
#: Every problem whose optimum is known, so that a seed's regret says how good its best was.
PROBLEMS = [name for name, p in ALL_PROBLEMS.items() if p.optimum is not None]


def rows(summaries: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One row per searcher, problem and W: the wrapped searcher's seeds better/worse/level."""
    found = []
    for problem, by_w in summaries.items():
        for w, methods in by_w.items():
            for name in SEARCHERS:
                bare, wrapped = methods.get(f"bare:{name}"), methods.get(f"wrapped:{name}")
                if bare is None or wrapped is None:
                    continue
                ours, base = ([float(r) for r in s["regret_by_seed@1"]] for s in (wrapped, bare))
                found.append(_row(name, problem, int(w), base, ours))
    return found


def _row(searcher: str, problem: str, workers: int, base: List[float], ours: List[float]) -> Dict[str, Any]:
    better, worse, level = (int(n) for n in paired_counts(ours, base))
    return {"searcher": searcher, "problem": problem, "workers": workers, "better": better, "worse": worse,
            "level": level, "p": sign_test(better, worse), "regret_bare": statistics.median(base),
            "regret_wrapped": statistics.median(ours), "regret_by_seed_bare": base, "regret_by_seed_wrapped": ours}


def joined(runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The rows of ``runs`` made apart over different seeds (``--first-seed``), each cell's seeds
    put together in the order of ``runs``; a cell missing from any run is left out."""
    cells: Dict[tuple, List[Dict[str, Any]]] = {}
    for run in runs:
        for r in run["rows"]:
            cells.setdefault((r["searcher"], r["problem"], r["workers"]), []).append(r)
    return [_row(*key, [x for r in parts for x in r["regret_by_seed_bare"]],
                 [x for r in parts for x in r["regret_by_seed_wrapped"]])
            for key, parts in cells.items() if len(parts) == len(runs)]


#: Options that say where a run's result goes, not what was run: left out of its recorded command.
_WHERE = ("--out", "--into", "--note")


def command_of(tokens: List[str]) -> str:
    """The command that reproduces a run of ``tokens`` (its arguments), without :data:`_WHERE`."""
    kept: List[str] = []
    skip = False
    for token in tokens:
        if skip:
            skip = False
        elif token in _WHERE:
            skip = True
        elif not token.startswith(tuple(f"{w}=" for w in _WHERE)):
            kept.append(token)
    return shlex.join(["python", "-m", "benchmarks.searchers", *kept])


def merged(record: Dict[str, Any], run: Dict[str, Any], note: str) -> Dict[str, Any]:
    """``record`` (``searchers.json``) with ``run``'s rows in place of its rows for the same cells
    (searcher, problem, W), and ``run``'s command listed among its runs under ``note``."""
    cells = {(r["searcher"], r["problem"], r["workers"]) for r in run["rows"]}
    return {**record, "runs": [*record["runs"], {"command": run["command"], "date": run["date"], "s": run["s"],
                                                  "optuna": run["optuna"], "searchers": note}],
            "rows": [r for r in record["rows"] if (r["searcher"], r["problem"], r["workers"]) not in cells]
            + run["rows"]}


def table(found: List[Dict[str, Any]]) -> str:
    """The markdown table of ``rows``, a verdict per row (p < 0.05 either way)."""
    lines = ["| searcher | problem | W | wrapped better / worse / level | p | median regret bare / wrapped | |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(found, key=lambda r: (list(SEARCHERS).index(r["searcher"]), r["workers"], r["problem"])):
        verdict = "**wrapped better**" if _better(r) else "**wrapped worse**" if _worse(r) else ""
        lines.append(f"| {r['searcher']} | {r['problem']} | {r['workers']} | {r['better']} / {r['worse']} / "
                     f"{r['level']} | {r['p']:.3g} | {r['regret_bare']:.4g} / {r['regret_wrapped']:.4g} | {verdict} |")
    return "\n".join(lines)


RESULTS = os.path.join(HERE, "searchers.json")
#: Earlier runs kept beside it, by the key ``lines`` reads them under: searchers as they were
#: told before a backend changed how.
BEFORE = {
    "by_value": os.path.join(HERE, "searchers_cmaes_by_value.json"),
    "tpe_every_trial": os.path.join(HERE, "searchers_tpe_every_trial.json"),
    "nevergrad_before": os.path.join(HERE, "searchers_nevergrad_before.json"),
    "gp_far_below": os.path.join(HERE, "searchers_gp_far_below.json"),
}


def load() -> Optional[Dict[str, Any]]:
    """The recorded runs (``searchers.json``, and the earlier runs of :data:`BEFORE`), if there."""
    if not os.path.exists(RESULTS):
        return None
    with open(RESULTS) as f:
        found = json.load(f)
    for key, path in BEFORE.items():
        if os.path.exists(path):
            with open(path) as f:
                found[key] = json.load(f)
    return found


def against_before(now: List[Dict[str, Any]], before: List[Dict[str, Any]], name: str) -> List[Dict[str, Any]]:
    """Per cell, ``name`` wrapped now against wrapped as it was (the same seeds): seeds better/worse/level."""
    was = {(r["problem"], r["workers"]): r["regret_by_seed_wrapped"] for r in before if r["searcher"] == name}
    found = []
    for r in now:
        if r["searcher"] != name or (r["problem"], r["workers"]) not in was:
            continue
        better, worse, level = (int(n) for n in paired_counts(r["regret_by_seed_wrapped"],
                                                                was[(r["problem"], r["workers"])]))
        found.append({"problem": r["problem"], "workers": r["workers"], "better": better, "worse": worse,
                      "level": level, "p": sign_test(better, worse)})
    return found


def _better(r: Dict[str, Any]) -> bool:
    """Whether a cell's seeds were significantly better (sign test, p < 0.05)."""
    return r["p"] < 0.05 and r["better"] > r["worse"]


def _worse(r: Dict[str, Any]) -> bool:
    """Whether a cell's seeds were significantly worse (sign test, p < 0.05)."""
    return r["p"] < 0.05 and r["worse"] > r["better"]


def _verdicts(found: List[Dict[str, Any]]) -> str:
    better, worse = sum(map(_better, found)), sum(map(_worse, found))
    return f"better in {better}, worse in {worse}, not told apart in {len(found) - better - worse} of {len(found)}"


def _worse_in(cells: List[Dict[str, Any]]) -> str:
    """The cells where wrapped was significantly worse, each with its seeds better/worse."""
    return "worse in: " + (", ".join(f"{c['problem']} W={c['workers']} {c['better']}/{c['worse']}"
                                     for c in cells if _worse(c)) or "none")


def _listed(runs: List[Dict[str, Any]]) -> List[str]:
    """One line per run of a record: its command, date, minutes and what it was."""
    return [f"- `{run['command']}`, {run.get('date', '')}, {run.get('s', 0) / 60:.0f} min: {run['searchers']}"
            for run in runs]


def lines(found: Dict[str, Any]) -> List[str]:
    """The RESULTS.md section: per searcher and W, the cells won and lost, then every cell."""
    out = ["## Any searcher, wrapped against bare", "",
           "Each searcher a Ray user may already have, as they build it, run bare (a failure dropped, as "
           "Ray does) and wrapped in `GradedPenaltySearcher` with the same seed, in the many-at-once "
           "simulation on every problem with a known optimum; per seed, the regret at the end of the GPU "
           "budget says which was better; sign test, p < 0.05 (over 80 cells, about 4 would pass by chance "
           "alone). Runs:", ""]
    out += _listed(found["runs"])
    out += ["", "| searcher | W | wrapped against bare, cells (p < 0.05) |", "|---|---|---|"]
    rows = found["rows"]
    for name in SEARCHERS:
        for w in sorted({r["workers"] for r in rows if r["searcher"] == name}):
            cells = [r for r in rows if (r["searcher"], r["workers"]) == (name, w)]
            out.append(f"| {name} | {w} | {_verdicts(cells)} |")
    if found.get("tpe_every_trial"):
        before = found["tpe_every_trial"]["rows"]
        changed = [c for c in against_before(rows, before, "tpe") if c["level"] < 20]
        out += ["", "TPE with its good group counted over every trial told, as 0.5 wrapped it: against bare "
                + _verdicts(before) + ". Since 0.6, while other trials run, the user's own `gamma` is given the "
                "successes' count (one trial at a time nothing changes: every W = 1 cell is the same). Now against "
                "then, per cell at W = 16 (seeds better / worse / level, p):", "",
                "; ".join(f"{c['problem']} {c['better']}/{c['worse']}/{c['level']} ({c['p']:.2g})" for c in changed),
                "", "Better than then (p < 0.05): " + (", ".join(c["problem"] for c in changed if _better(c)) or "none")
                + "; worse than then: " + (", ".join(c["problem"] for c in changed if _worse(c)) or "none")
                + ". Where it is worse than then it is still better than bare; where it was worse than bare "
                  "(pressure_vessel) it no longer is."]
    if found.get("by_value"):
        by_value = found["by_value"]["rows"]
        out += ["", "CMA-ES told a failure by its graded value (before the Optuna backend told it `FAIL`): "
                + _verdicts(by_value) + ". Its cells:", "", table(by_value)]
    if found.get("nevergrad_before"):
        nevergrad = found["nevergrad_before"]
        out += ["", "NevergradSearch before its backend told a failure as an error:"]
        for run in nevergrad["runs"]:
            cells = [r for r in nevergrad["rows"] if r["told"] == run["told"]]
            out += ["", f"- {run['note']} (`{run['command']}`, {run.get('s', 0) / 60:.0f} min): {_verdicts(cells)}; "
                    + _worse_in(cells)]
    if found.get("gp_far_below"):
        far = found["gp_far_below"]["rows"]
        changed = against_before(rows, far, "gp")
        out += ["", "GPSampler told a failure one spread and more below the worst success, as every Optuna sampler "
                "but CMA-ES is (before the Optuna backend told it close below): " + _verdicts(far) + "; "
                + _worse_in(far) + ". Close below against then, the same seeds (better / worse / level, p): "
                + "; ".join(f"{c['problem']} W={c['workers']} {c['better']}/{c['worse']}/{c['level']} ({c['p']:.2g})"
                            for c in changed) + ". Its runs and cells:", ""]
        out += _listed(found["gp_far_below"]["runs"])
        out += ["", table(far)]
    out += ["", "Every cell:", "", table(rows), ""]
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--searchers", default="tpe,gp,cmaes,qmc,hyperopt_search",
                        help=f"of {','.join(SEARCHERS)} (nevergrad and bayesopt need their libraries)")
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--workers", default="1,16", help="trials at once (W), comma-separated")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (to add seeds to a run made before)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the GPU budget (smoke runs)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the run here, apart from the record")
    parser.add_argument("--table-from", default=None, help="print the table of these result files, comma-separated")
    parser.add_argument("--join", default=None,
                        help="join these runs over different seeds, comma-separated, instead of running "
                             "(the record itself may be one: its cells the others also have get their seeds)")
    parser.add_argument("--into", default=None,
                        help="the record whose cells the run's rows replace, the run listed (default: "
                             "searchers.json, unless --out names where the run goes instead)")
    parser.add_argument("--note", default=None, help="what the run was, as RESULTS.md lists it (default: "
                                                      "the searchers' names)")
    args = parser.parse_args(argv)
    if args.table_from:
        found = [r for path in args.table_from.split(",") for r in json.load(open(path))["rows"]]
        print(table(found))
        return 0
    if args.into is None and args.out is None:
        args.into = RESULTS
    if args.into and args.out and os.path.abspath(args.into) == os.path.abspath(args.out):
        parser.error(f"--out {args.out} is also --into: the run would overwrite the record it goes into")
    unknown = sorted(set(args.searchers.split(",")) - set(SEARCHERS))
    if unknown:
        parser.error(f"unknown searchers {unknown}; choose from {list(SEARCHERS)}")
    if args.join:
        runs = [json.load(open(path)) for path in args.join.split(",")]
        made = [r for r in runs if "command" in r]  # a record lists its runs instead
        if not made:
            parser.error(f"--join {args.join}: no run among them, only records (each lists its runs)")
        if args.into and not args.note:
            parser.error("--join into a record needs --note: what the joined seeds were, as RESULTS.md lists it")
        result = {"command": " + ".join(command_of(shlex.split(r["command"])[3:]) for r in made),
                  "date": made[-1]["date"],
                  "s": sum(r["s"] for r in made), "optuna": made[-1]["optuna"], "rows": joined(runs)}
        if not result["rows"]:
            parser.error(f"--join {args.join}: the runs have no cell (searcher, problem, W) in common")
    else:
        result = _run(args, argv if argv is not None else sys.argv[1:])
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    if args.into:
        with open(args.into) as f:
            record = merged(json.load(f), result, args.note or args.searchers)
        with open(args.into, "w") as f:
            json.dump(record, f, indent=1)
    print(table(result["rows"]))
    return 0


def _run(args: argparse.Namespace, argv: List[str]) -> Dict[str, Any]:
    """Run the searchers, problems, W and seeds ``args`` names: the run's record."""
    names = args.searchers.split(",")
    workers = tuple(int(w) for w in args.workers.split(","))
    cells = [(p, f"{side}:{n}", s, w, args.scale) for p in args.problems.split(",") for w in workers
             for n in names if _takes(n, p) for side in ("bare", "wrapped")
             for s in range(args.first_seed, args.first_seed + args.seeds)]
    started = time.time()
    with process_pool(args.processes, _one_thread) as pool:
        summaries = run_grid(cells, pool, CATALOG)
    return {"command": command_of(argv), "date": time.strftime("%Y-%m-%d"), "s": time.time() - started,
            "optuna": optuna.__version__, "rows": rows(summaries)}


if __name__ == "__main__":
    raise SystemExit(main())

"""Tune llama.cpp's llama-server for real: one server per trial, a real load, real failures.

Set up once (builds llama-server, about 10 minutes on 2 cores; writes a random-weight model):

    bash examples/llama_server/setup.sh

then tune (about 10 s per trial on 2 cores):

    python examples/llama_server/tune.py --samples 24

Each trial starts ``llama-server`` with the trial's slots (``-np``), KV cache size (``-c``, the
total over all slots), batch (``-b``), micro-batch (``-ub``) and threads (``-t``), under a
memory limit (``--memory-gb``, default 1), waits until it answers ``/health``, then runs the
seed design's task on that one deployment: the scenario ``D(512,128)`` (512 prompt tokens, sized
with the server's own tokenizer, and 128 output tokens each) at concurrency 1 and then 2, and
reports the mean of the two loads' metrics (throughput, TTFT, TPOT, ITL, E2EL). What fails
here fails for real: a KV cache beyond the memory limit (``failed to allocate buffer for kv
cache``: out of memory), a per-slot context (``-c / -np``) too small for 640 tokens (HTTP
400s), a server that dies under load. The searcher grades each by its stage and the server's
own words, with an SLO on p99 end-to-end latency, and prints what it told the model. How far a failed
trial got is measured against ``--timeout`` (15 s, a little over what a healthy trial takes
here), so a server that fails under load is graded above one that never started.

With ``--searcher optuna-search`` the same run uses Ray's ``OptunaSearch`` as shipped, for
comparison (failed trials are thrown away).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from ray import tune

from ray_graded_penalty import SLO, GradedPenaltySearcher
from ray_graded_penalty.compat import RunConfig
from ray_graded_penalty.serving import server_trainable

HOME = os.environ.get("RGP_LLAMA_HOME", os.path.expanduser("~/.cache/ray-graded-penalty/llama.cpp"))

#: The knobs that map to vLLM's: slots ~ max_num_seqs, ctx ~ the KV pool
#: (gpu_memory_utilization), batch/ubatch ~ max_num_batched_tokens / chunked prefill.
SPACE = {
    "slots": tune.choice([1, 2, 4, 8, 16]),
    "ctx": tune.choice([2048, 4096, 8192, 16384, 65536, 262144]),
    "batch": tune.choice([64, 128, 256, 512, 2048]),
    "ubatch": tune.choice([32, 64, 128, 256, 512]),
    "threads": tune.choice([1, 2]),
}
COMMAND = ("{server} -m {model} --host {host} --port {port} -np {slots} -c {ctx} -b {batch} "
           "-ub {ubatch} -t {threads} --no-warmup")


def llama_trainable(home: str = HOME, memory_gb: float = 1.0, requests: int = 8,
                    scenarios: tuple = ("D(512,128)",), concurrency: tuple = (1, 2)):
    """The serving trainable for the llama-server and model that ``setup.sh`` left in ``home``."""
    server, model = os.path.join(home, "bin", "llama-server"), os.path.join(home, "model.gguf")
    for path in (server, model):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run `bash examples/llama_server/setup.sh` first "
                     f"(or set RGP_LLAMA_HOME to where it put them)")
    return server_trainable(
        COMMAND, server=server, model=model, scenarios=list(scenarios), concurrency=list(concurrency),
        requests=requests, ready_timeout_s=10, request_timeout_s=10, memory_limit_gb=memory_gb,
        # One arena per thread under RLIMIT_AS makes the limit less predictable; OpenMP threads
        # that spin fight the HTTP threads on 2 cores.
        env={"MALLOC_ARENA_MAX": "2", "OMP_WAIT_POLICY": "passive"},
    )


def searcher_for(name: str, seed: int, timeout_s: float, p99_s: float):
    if name == "optuna-search":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=seed), []
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=timeout_s, seed=seed,
                                     slos=[SLO("e2el_p99_s", max=p99_s)])
    return searcher, [searcher.callback]


class TrialTimes(tune.Callback):
    """Each trial's wall time as the driver saw it (start to end), and whether it failed."""

    def __init__(self):
        self.started, self.ended = {}, {}

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started.setdefault(trial.trial_id, time.monotonic())

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.ended[trial.trial_id] = (time.monotonic() - self.started[trial.trial_id], False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.ended[trial.trial_id] = (time.monotonic() - self.started[trial.trial_id], True)


def summary(results, times: TrialTimes, p99_s: float, wall_s: float) -> dict:
    """What the benchmark compares: the best SLO-meeting throughput, and what failures cost."""
    ok = [r for r in results if r.error is None and "throughput" in r.metrics]
    meeting = [r.metrics["throughput"] for r in ok if r.metrics["e2el_p99_s"] <= p99_s]
    return {
        "trials": len(results),
        "failed": sum(r.error is not None for r in results),
        "met_slo": len(meeting),
        "best_throughput_meeting_slo": max(meeting, default=None),
        "trial_s": sum(s for s, _ in times.ended.values()),
        "failed_trial_s": sum(s for s, failed in times.ended.values() if failed),
        "wall_s": wall_s,
    }


def print_told(searcher: GradedPenaltySearcher) -> None:
    """One line per trial: its config, what the model was told, and why."""
    print(f"\n{'slots':>5} {'ctx':>6} {'b':>4} {'ub':>3} {'t':>1}  {'told':>9}  what happened")
    for outcome in searcher.outcomes.values():
        c = outcome.config
        why = (outcome.error or "").splitlines()[0][:90] if outcome.failed else (
            f"served, p99 {outcome.slo_values.get('e2el_p99_s') or float('nan'):.2f} s"
            + (" (missed the SLO)" if outcome.slo_miss else ""))
        print(f"{c['slots']:>5} {c['ctx']:>6} {c['batch']:>4} {c['ubatch']:>3} {c['threads']:>1}  "
              f"{outcome.told:>9.1f}  {why}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=24, help="trials (with --budget-s: at most)")
    parser.add_argument("--budget-s", type=float, default=None, help="stop starting trials after this")
    parser.add_argument("--concurrent", type=int, default=1, help="trials at once (default 1: 2 cores)")
    parser.add_argument("--timeout", type=float, default=15.0,
                        help="per-trial timeout, seconds (a healthy trial takes 2-10 s here)")
    parser.add_argument("--p99", type=float, default=0.5, help="SLO: bound on p99 end-to-end latency, seconds")
    parser.add_argument("--memory-gb", type=float, default=1.0, help="each server's address-space limit")
    parser.add_argument("--searcher", choices=["graded", "optuna-search"], default="graded")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage-path", default=None)
    parser.add_argument("--json", default=None, help="write the summary the benchmark reads here")
    args = parser.parse_args(argv)
    for name in ("samples", "concurrent"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("ray").setLevel(logging.WARNING)

    searcher, callbacks = searcher_for(args.searcher, args.seed, args.timeout, args.p99)
    times = TrialTimes()
    tuner = tune.Tuner(
        tune.with_resources(llama_trainable(memory_gb=args.memory_gb), {"cpu": 2 / args.concurrent}),
        param_space=SPACE,
        tune_config=tune.TuneConfig(metric="throughput", mode="max", search_alg=searcher,
                                    num_samples=args.samples, max_concurrent_trials=args.concurrent,
                                    time_budget_s=args.budget_s),
        run_config=RunConfig(storage_path=args.storage_path, callbacks=callbacks + [times], verbose=0,
                             name=f"llama_server_{args.searcher}_{args.seed}"),
    )
    start = time.monotonic()
    results = tuner.fit()
    wall_s = time.monotonic() - start
    if args.searcher == "graded":
        print_told(searcher)
    failed = sum(r.error is not None for r in results)
    print(f"\n{failed} of {len(results)} trials failed, in {wall_s:.0f} s.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"searcher": args.searcher, "seed": args.seed, **summary(results, times, args.p99, wall_s)}, f)
    ok = [r for r in results if r.error is None and r.metrics.get("e2el_p99_s", 1e9) <= args.p99]
    if ok:
        best = max(ok, key=lambda r: r.metrics["throughput"])
        print(f"best meeting p99 <= {args.p99:g} s: {best.metrics['throughput']:.0f} tokens/s, "
              f"p99 {best.metrics['e2el_p99_s']:.2f} s, config {best.config}")
    else:
        print(f"no trial met p99 <= {args.p99:g} s")


if __name__ == "__main__":
    main()

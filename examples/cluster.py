"""Tune a GPU workload on a real Ray cluster with graded failure penalties.

Start the cluster first (see the README, "On a cluster"):

    # on the head node (no GPU work needed there)
    ray start --head --port=6379 --num-gpus=0
    # on each GPU node
    ray start --address=HEAD_IP:6379

then run this script on the head node:

    python examples/cluster.py --address auto --samples 64 --timeout 900

Each trial requests one GPU, so Ray runs one trial per GPU and queues the rest (a queued
trial's time does not count against its timeout). A trial that hangs past --timeout is ended
and its GPU freed; a trial whose GPU node is lost (Ray's "actor died" error: its node died or
was preempted) is not graded: its configuration runs again, once by default (``retries``); the
experiment goes on on the remaining nodes. Kill this script and
run it again with --resume to continue where the last checkpoint left off.

Replace ``serve_and_benchmark`` with your own deploy-and-benchmark code.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import ray
from ray import tune

from ray_graded_penalty import GradedPenaltySearcher
from ray_graded_penalty.compat import FailureConfig, RunConfig, report
from ray_graded_penalty.demo import SPACE, simulate


def serve_and_benchmark(config):
    """Stands in for: start an inference server with ``config``, benchmark it, report."""
    throughput, fraction, error = simulate(config)
    time.sleep(fraction * config["simulated_timeout_s"])
    if throughput is None:
        raise RuntimeError(error)
    report({"throughput": throughput})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=None, help='Ray address, e.g. "auto" on a cluster node')
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=900.0, help="per-trial timeout, seconds")
    parser.add_argument("--gpus-per-trial", type=float, default=1.0)
    parser.add_argument("--storage-path", default=os.path.expanduser("~/ray_results"))
    parser.add_argument("--name", default="graded_penalty_cluster")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--simulated-timeout", type=float, default=5.0,
                        help="time scale of the stand-in workload, seconds")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ray.init(address=args.address)
    gpus = ray.cluster_resources().get("GPU", 0)
    if gpus < args.gpus_per_trial:
        ray.shutdown()
        raise SystemExit(
            f"this cluster has {gpus:g} GPUs and each trial requests {args.gpus_per_trial:g}: "
            "no trial could ever start. Add GPU nodes, or pass --gpus-per-trial 0 to try it on CPUs."
        )
    trainable = tune.with_resources(serve_and_benchmark, {"cpu": 1, "gpu": args.gpus_per_trial})
    path = os.path.join(args.storage_path, args.name)
    if args.resume:
        tuner = tune.Tuner.restore(path, trainable=trainable)
    else:
        searcher = GradedPenaltySearcher("optuna", trial_timeout_s=args.timeout, seed=args.seed)
        tuner = tune.Tuner(
            trainable,
            param_space={**SPACE, "simulated_timeout_s": args.simulated_timeout},
            tune_config=tune.TuneConfig(
                metric="throughput", mode="max", search_alg=searcher, num_samples=args.samples
            ),
            run_config=RunConfig(
                name=args.name,
                storage_path=args.storage_path,
                callbacks=[searcher.callback],
                failure_config=FailureConfig(max_failures=0),
            ),
        )
    results = tuner.fit()
    ok = [r for r in results if r.error is None and "throughput" in r.metrics]
    failed = len(results) - len(ok)
    print(f"{failed} of {len(results)} trials failed; each was graded and told to TPE.")
    if ok:
        best = max(ok, key=lambda r: r.metrics["throughput"])
        print("best config:", best.config, "->", best.metrics["throughput"])
    else:
        print("no trial succeeded; see the penalties logged above for the least-bad region")


if __name__ == "__main__":
    main()

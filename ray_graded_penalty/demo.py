"""The demo: tune a simulated LLM inference server on a local Ray, where many configs fail.

A 70B-parameter model (140 GB of fp16 weights) is served on GPUs of 80 GB. A configuration
fails the way real ones do: a tensor-parallel size that does not divide the model's 64
attention heads fails to deploy at once; weights that do not fit run out of memory while
loading; a KV cache too small for the batch runs out of memory when the benchmark starts; a
server too slow to finish the benchmark times out. Times are scaled down to seconds.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Dict, Optional

from ray import tune

from ray_graded_penalty.compat import RunConfig, report

GPU_GB = 80.0
WEIGHTS_GB = 140.0
HEADS = 64
KV_GB_PER_SEQ = 0.35  # a 4k-token context at fp16 for this model, over all GPUs

SPACE: Dict[str, Any] = {
    "tensor_parallel": tune.choice([1, 2, 3, 4, 6, 8]),
    "gpu_memory_fraction": tune.uniform(0.5, 0.98),
    "max_num_seqs": tune.lograndint(8, 1024),
    "chunked_prefill": tune.choice([512, 1024, 2048, 4096, 8192]),
}


def simulate(config: Dict[str, Any]) -> tuple[Optional[float], float, str]:
    """(throughput or None, fraction of the timeout it ran, error) of one configuration."""
    tp = config["tensor_parallel"]
    if HEADS % tp:
        return None, 0.01, f"Deployment failed: {HEADS} heads not divisible by tensor_parallel={tp}"
    usable = GPU_GB * config["gpu_memory_fraction"] * tp
    if WEIGHTS_GB * 1.05 > usable:
        return None, 0.08, "CUDA out of memory while loading weights"
    kv_needed = config["max_num_seqs"] * KV_GB_PER_SEQ
    if WEIGHTS_GB + kv_needed > usable:
        return None, 0.4, "CUDA out of memory: KV cache blocks exhausted"
    # Roofline-style: batching raises throughput until compute saturates; more GPUs add
    # compute minus communication; a larger prefill chunk helps up to a point.
    batch = config["max_num_seqs"]
    compute = 2500.0 * tp * (0.85 ** math.log2(tp))
    memory_bound = 40.0 * batch
    prefill = 1.0 - 0.15 * abs(math.log2(config["chunked_prefill"] / 2048)) / 2
    throughput = min(compute, memory_bound) * prefill
    if throughput < 700:
        return None, 1.0, "Benchmark timed out: throughput too low to finish"
    return throughput, 0.5, ""


def serving_trainable(config: Dict[str, Any]) -> None:
    """A Ray Tune trainable that sleeps for the simulated time, then reports or raises."""
    throughput, fraction, error = simulate(config)
    time.sleep(fraction * config["timeout_s"])
    if throughput is None:
        raise (TimeoutError if "timed out" in error else RuntimeError)(error)
    report({"throughput": throughput})


def main(num_samples: int = 24, timeout_s: float = 3.0, seed: int = 0, storage_path: Optional[str] = None) -> int:
    """Run the demo on a local Ray and print what each trial was told and the best config."""
    import ray

    from ray_graded_penalty import GradedPenaltySearcher

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=timeout_s, seed=seed)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    # Ray logs each failed trial's whole traceback; the searcher's one line says enough here.
    logging.getLogger("ray.tune.execution.tune_controller").setLevel(logging.CRITICAL)
    try:
        tuner = tune.Tuner(
            serving_trainable,
            param_space={**SPACE, "timeout_s": timeout_s},
            tune_config=tune.TuneConfig(
                metric="throughput", mode="max", search_alg=searcher, num_samples=num_samples
            ),
            run_config=RunConfig(
                name="graded_penalty_demo", storage_path=storage_path,
                callbacks=[searcher.callback], verbose=0,
            ),
        )
        tuner.fit()
    finally:
        ray.shutdown()

    print(f"\n{'trial':<10} {'outcome':<8} {'told':>10}  {'error class':<11} config")
    for outcome in searcher.outcomes.values():
        config = {k: (round(v, 3) if isinstance(v, float) else v)
                  for k, v in (outcome.config or {}).items() if k != "timeout_s"}
        kind = "failed" if outcome.failed else "ok"
        print(f"{outcome.trial_id:<10} {kind:<8} {outcome.told:>10.1f}  {outcome.error_class or '-':<11} {config}")
    best = searcher.best
    failed = sum(o.failed for o in searcher.outcomes.values())
    print(f"\n{failed} of {len(searcher.outcomes)} trials failed; each was told a graded penalty.")
    if best is not None:
        label = "least-bad failure" if best.failed else "best config"
        print(f"{label}: {best.config} -> {best.told:.1f}")
    return 0

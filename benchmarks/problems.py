"""Benchmark problems with failures. Each is deterministic given a config.

``evaluate(config)`` returns an :class:`Outcome`: a value (the trial succeeded) or a failure
with its time-to-failure, as a fraction of the per-trial timeout, and an error text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from ray import tune


@dataclass(frozen=True)
class Outcome:
    value: Optional[float] = None  # None: the trial failed
    fraction: float = 1.0  # of the per-trial timeout it ran
    error: str = ""
    metrics: Optional[Dict[str, float]] = None  # what else a success reported (the SLO benchmark)
    error_class: Optional[str] = None  # what killed it, when the trial knew (a replayed server's)
    progress: Optional[float] = None  # how far it got, in [0, 1], when it reported it (hang_region.py)
    stage: Optional[str] = None  # the stage a served trial failed in, when it published one (hang_region.py)

    @property
    def failed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Problem:
    name: str
    space: Dict[str, Any]
    mode: str
    evaluate: Callable[[Dict[str, Any]], Outcome]
    target: Optional[float]  # a value counted as "good enough" (None: nothing succeeds)
    description: str
    region: Optional[Callable[[Dict[str, Any]], bool]] = None  # longest-surviving region
    edge: Optional[Callable[[Dict[str, Any]], bool]] = None  # near the failing region's edge
    optimum: Optional[Callable[[], float]] = None  # the best value there is (for regret)

    def regret(self, best: Optional[float]) -> float:
        """How far ``best`` is from the optimum (infinite when nothing succeeded)."""
        if best is None:
            return math.inf
        return max(0.0, self.optimum() - best if self.mode == "max" else best - self.optimum())


# ----- the seed design's all-fail scenario ----------------------------------------------


def _all_fail(config: Dict[str, Any]) -> Outcome:
    survival = min(1.0, (config["x"] + config["y"]) / 16)
    if survival >= 1.0:
        return Outcome(None, 1.0, "Experiment timed out after 600 seconds")
    return Outcome(None, survival, "RuntimeError: inference server crashed")


ALL_FAIL = Problem(
    name="all_fail",
    space={"x": tune.uniform(0, 10), "y": tune.uniform(0, 10)},
    mode="max",
    evaluate=_all_fail,
    target=None,
    description=(
        "The seed design's scenario: every trial fails, surviving (x + y) / 16 of the "
        "timeout; x + y >= 16 times out. Longest-surviving region: survival >= 95 % "
        "(11.5 % of the square)."
    ),
    region=lambda c: (c["x"] + c["y"]) / 16 >= 0.95,
)


# ----- Branin on the unit square with infeasible discs --------------------------------------

_DISCS = (((0.124, 0.818), 0.2, "CUDA out of memory"), ((0.962, 0.165), 0.35, "Deployment failed"))


def _branin(config: Dict[str, Any]) -> Outcome:
    u, v = config["u"], config["v"]
    for (cu, cv), radius, error in _DISCS:
        distance = math.hypot(u - cu, v - cv)
        if distance < radius:  # fails, earlier the deeper inside the disc
            return Outcome(None, 0.9 * distance / radius, error)
    x1, x2 = 15 * u - 5, 15 * v
    value = (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
    value += 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10
    return Outcome(value, 0.5)


BRANIN = Problem(
    name="branin_discs",
    space={"u": tune.uniform(0, 1), "v": tune.uniform(0, 1)},
    mode="min",
    evaluate=_branin,
    target=1.0,
    edge=lambda c: min(abs(math.hypot(c["u"] - cu, c["v"] - cv) / r - 1) for (cu, cv), r, _ in _DISCS) <= 0.05,
    optimum=lambda: 0.397887,
    description=(
        "Branin on the unit square (minimize); configs inside the discs centred (0.124, 0.818) "
        "r 0.2 and (0.962, 0.165) r 0.35 fail (OOM, deploy), earlier the deeper inside. Two of "
        "Branin's three minima lie in the discs; the feasible one is 0.3979 at (0.543, 0.152)."
    ),
)


# ----- a simulated LLM-serving autotune -----------------------------------------------------

GPU_GB, HBM_TBPS, TFLOPS = 141.0, 4.8, 989.0  # one H200-class GPU
WEIGHTS_GB, HEADS, LAYERS = 140.0, 64, 80  # a 70B model in bf16
KV_GB_PER_TOKEN = 0.00031  # 2 * layers * 8 kv heads * 128 dims * 2 bytes
CONTEXT = 3072  # tokens per sequence in the benchmark
MIN_THROUGHPUT = 1500.0  # tokens/s needed to finish the benchmark before the timeout


def _serving(config: Dict[str, Any]) -> Outcome:
    tp, fraction = config["tensor_parallel"], config["gpu_memory_fraction"]
    seqs, chunk = config["max_num_seqs"], config["chunked_prefill"]
    if HEADS % tp:
        return Outcome(None, 0.02, f"Deployment failed: {HEADS} heads not divisible by tp={tp}")
    memory = GPU_GB * fraction * tp
    if WEIGHTS_GB * 1.04 > memory:
        return Outcome(None, 0.1, "CUDA out of memory while loading weights")
    activation_gb = chunk * 0.0006 * LAYERS / 80 * 8 / tp
    kv_gb = memory - WEIGHTS_GB * 1.04 - activation_gb
    if kv_gb <= 0:
        return Outcome(None, 0.3, "CUDA out of memory: prefill chunk activations")
    batch = min(seqs, int(kv_gb / (KV_GB_PER_TOKEN * CONTEXT)))
    if batch < 1:
        return Outcome(None, 0.4, "CUDA out of memory: no KV cache blocks")
    # Roofline of one decode step: read the weights and the KV cache, or compute, whichever
    # is slower, plus all-reduce latency per layer when tensor-parallel.
    bytes_gb = WEIGHTS_GB + batch * CONTEXT / 2 * KV_GB_PER_TOKEN
    memory_s = bytes_gb / (HBM_TBPS * 1000 * tp)
    compute_s = 2 * 70e9 * batch / (TFLOPS * 1e12 * tp * 0.5)
    comm_s = 0.0 if tp == 1 else LAYERS * 2 * 12e-6 * math.log2(tp)
    step_s = max(memory_s, compute_s) + comm_s
    prefill_penalty = 1.0 + 0.08 * abs(math.log2(chunk / 2048))  # chunks interrupt decoding
    throughput = batch / step_s / prefill_penalty
    if throughput < MIN_THROUGHPUT:
        return Outcome(None, 1.0, "Benchmark timed out: throughput too low to finish")
    # Latencies for the SLO benchmark: a token's p99 time (a decode step, stretched by prefill
    # chunks interrupting it), and the time to first token (the prompt's prefill compute, split
    # into chunks that wait for decode steps, behind the batch already running).
    prefill_s = 2 * 70e9 * CONTEXT / (TFLOPS * 1e12 * tp * 0.5)
    metrics = {
        "p99_latency_s": 1.5 * step_s * prefill_penalty,
        "ttft_s": prefill_s * max(1.0, CONTEXT / chunk) ** 0.5 * (1 + batch / 128),
    }
    return Outcome(throughput, 0.6, metrics=metrics)


LLM_SERVING = Problem(
    name="llm_serving",
    space={
        "tensor_parallel": tune.choice([1, 2, 3, 4, 6, 8]),
        "gpu_memory_fraction": tune.uniform(0.5, 0.95),
        "max_num_seqs": tune.lograndint(1, 1024),
        "chunked_prefill": tune.choice([512, 1024, 2048, 4096, 8192, 16384]),
    },
    mode="max",
    evaluate=_serving,
    target=None,  # set below from a grid search of the known space
    description=(
        "A 70B bf16 model on 141 GB GPUs (maximize tokens/s). Deploy fails at once when tp "
        "does not divide 64 heads; OOM while loading when weights do not fit (10 %), when the "
        "prefill chunk leaves no memory (30 %) or no KV cache (40 %); a server below 1500 "
        "tokens/s times out (100 %). Throughput: a decode-step roofline (weights + KV reads "
        "against HBM bandwidth, or compute), plus all-reduce latency per layer."
    ),
)


# ----- about 90 % of random configurations fail ---------------------------------------------

_CENTRE = (0.55, 0.45, 0.6, 0.4)
_RADIUS = (0.2 / math.pi**2) ** 0.25  # a 4-ball of volume 0.1
_OPTIMUM = (0.62, 0.38, 0.7, 0.35)


def _mostly_fail(config: Dict[str, Any]) -> Outcome:
    x = [config[f"x{i}"] for i in range(4)]
    outside = math.dist(x, _CENTRE) - _RADIUS
    if outside > 0:  # fails, later the closer it gets to the feasible ball
        error = "CUDA out of memory" if x[0] > 0.5 else "connection reset by peer"
        return Outcome(None, max(0.0, 0.95 - outside), error)
    return Outcome(1.0 - math.dist(x, _OPTIMUM) ** 2, 0.5)


MOSTLY_FAIL = Problem(
    name="mostly_fail",
    space={f"x{i}": tune.uniform(0, 1) for i in range(4)},
    mode="max",
    evaluate=_mostly_fail,
    target=0.98,
    edge=lambda c: abs(math.dist([c[f"x{i}"] for i in range(4)], _CENTRE) / _RADIUS - 1) <= 0.05,
    optimum=lambda: 1.0,
    description=(
        "4-D unit cube (maximize 1 - |x - x*|^2); only a ball of volume 0.1 succeeds, so about "
        "90 % of random configs fail, later the closer they are to the ball."
    ),
)


def _latency_ms(config: Dict[str, Any]) -> Outcome:
    outcome = _mostly_fail(config)
    if outcome.failed:
        return outcome
    return Outcome(-2000.0 - 1000.0 * (1.0 - outcome.value), outcome.fraction)  # -latency in ms


LATENCY_MS = Problem(
    name="latency_ms",
    space=MOSTLY_FAIL.space,
    mode="max",
    evaluate=_latency_ms,
    target=-2020.0,
    edge=MOSTLY_FAIL.edge,
    optimum=lambda: -2000.0,
    description=(
        "mostly_fail's space and failures, but the metric is a negative latency in ms (about "
        "-2000 to -3000): the seed design's fixed numbers (-80 to -1500) would rank every "
        "failure above every success."
    ),
)


def _serving_target() -> float:
    best = 0.0
    for tp in (1, 2, 4, 8):
        for f in [0.5 + 0.05 * i for i in range(10)]:
            for seqs in (1, 4, 16, 64, 128, 256, 512, 1024):
                for chunk in (512, 1024, 2048, 4096, 8192, 16384):
                    outcome = _serving({"tensor_parallel": tp, "gpu_memory_fraction": f,
                                        "max_num_seqs": seqs, "chunked_prefill": chunk})
                    if not outcome.failed:
                        best = max(best, outcome.value)
    return 0.9 * best  # 90 % of the best a coarse grid finds


def _serving_optimum() -> float:
    """The best throughput there is. Throughput grows with the batch, and the batch with the
    memory fraction and max_num_seqs, so the optimum has both at their largest; every tensor
    parallel degree and prefill chunk is tried."""
    best = 0.0
    for tp in LLM_SERVING.space["tensor_parallel"].categories:
        for chunk in LLM_SERVING.space["chunked_prefill"].categories:
            outcome = _serving({"tensor_parallel": tp, "gpu_memory_fraction": 0.95,
                                "max_num_seqs": 1023, "chunked_prefill": chunk})
            if not outcome.failed:
                best = max(best, outcome.value)
    return best


LLM_SERVING = Problem(**{**LLM_SERVING.__dict__, "target": _serving_target(), "optimum": _serving_optimum})

PROBLEMS = {p.name: p for p in (ALL_FAIL, BRANIN, LLM_SERVING, MOSTLY_FAIL, LATENCY_MS)}


def random_failure_rate(problem: Problem, samples: int = 4000, seed: int = 0) -> float:
    """The share of uniformly random configurations that fail (fixed seed)."""
    import numpy as np

    rng = np.random.RandomState(seed)
    configs = ({k: d.sample(random_state=rng) for k, d in problem.space.items()} for _ in range(samples))
    return sum(problem.evaluate(c).failed for c in configs) / samples

"""The loads one deployment runs in turn: every scenario at every concurrency (closed loop) or
every request rate (open loop), each with its own name, its requests and their bodies.

A deployment (a vLLM start takes minutes) runs all of them; the trial reports their combined
metrics (:func:`~ray_graded_penalty.serving.metrics.combine`) and, when there are several, each
load's under ``loads/<name>/``.

Example:
    >>> [p.name for p in plan_loads(("D(512,128)",), None, [1, 2], None)]
    ['D(512,128) c=1', 'D(512,128) c=2']
    >>> [p.name for p in plan_loads(("U(8,64)/(2,6)",), None, 8, [0.5, 2.0])]
    ['U(8,64)/(2,6) rps=0.5', 'U(8,64)/(2,6) rps=2']
"""

from __future__ import annotations

import math
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple, Union

from ray_graded_penalty.serving.workload import Scenario, parse_scenario

Numbers = Union[int, float, Sequence[Union[int, float]]]


class LoadPlan(NamedTuple):
    """One load: its name, its scenario (None: the user's prompts) and how it is driven."""

    name: str
    scenario: Optional[Scenario]
    concurrency: Optional[int]
    request_rate: Optional[float]


def _listed(name: str, value: Numbers, integer: bool) -> Tuple[Any, ...]:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    what = "a positive integer" if integer else "a positive number (math.inf: all at once)"
    if not values:
        raise ValueError(f"{name} must be {what} or a non-empty list of them, got {value!r}")
    for v in values:
        kind = int if integer else (int, float)
        if isinstance(v, bool) or not isinstance(v, kind) or v != v or v <= 0 or (integer and math.isinf(v)):
            raise ValueError(f"{name} must be {what} or a list of them, got {value!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} lists a value twice: {value!r}")
    return values


def plan_loads(scenarios: Optional[Sequence[str]], prompts: Optional[Sequence[str]], concurrency: Numbers,
               request_rate: Optional[Numbers]) -> List[LoadPlan]:
    """The loads, scenarios outermost; ``request_rate`` given makes them open loop (the
    concurrency then unused). Raises ``ValueError`` naming a bad value."""
    if scenarios is not None and prompts is not None:
        raise ValueError("give scenarios (workloads in tokens) or prompts (your own), not both")
    parsed: List[Optional[Scenario]]
    if prompts is not None:
        parsed = [None]
    else:
        texts = (scenarios,) if isinstance(scenarios, str) else tuple(scenarios or ())
        if not texts:
            raise ValueError(f"scenarios must be a scenario or a non-empty list of them, got {scenarios!r}")
        parsed = [parse_scenario(text) for text in texts]
        if len({s.name for s in parsed if s}) != len(parsed):
            raise ValueError(f"scenarios lists a scenario twice: {scenarios!r}")
    if request_rate is not None:
        rates = _listed("request_rate", request_rate, integer=False)
        return [LoadPlan(f"{s.name if s else 'prompts'} rps={r:g}", s, None, float(r)) for s in parsed for r in rates]
    levels = _listed("concurrency", concurrency, integer=True)
    return [LoadPlan(f"{s.name if s else 'prompts'} c={c}", s, int(c), None) for s in parsed for c in levels]

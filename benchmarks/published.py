"""Published constrained problems, none designed here: engineering design problems whose
optimum lies on the boundary of the infeasible region, plus Gramacy et al.'s toy problem.

Formulas and bounds as published (the bounds are those of the scalable constrained Bayesian
optimization benchmarks, Eriksson & Poloczek 2021, which BoTorch ships):

- ``pressure_vessel``: Sandgren (1990); Coello Coello & Mezura Montes (2002). Continuous
  relaxation (the shell and head thicknesses are not rounded to multiples of 1/16 inch).
- ``welded_beam``: Coello Coello (2000); Hedar & Fukushima (2006). Seven constraints, among them
  the buckling load with ``sqrt(x3^2 x4^6 / 36)``.
- ``spring``: the tension/compression spring, Arora (1989); Coello Coello (2000).
- ``speed_reducer``: Golinski (1970); Lemonge et al. (2010). Eleven constraints.
- ``three_bar_truss``: Ray & Saini (2001).
- ``gramacy``: Gramacy et al. (2016), "Modeling an augmented Lagrangian for blackbox
  constrained optimization", the two-constraint toy problem on the unit square.

How an infeasible design fails is this benchmark's one modelling choice, the same for all six:
each constraint is written as ``g_i(x) <= 0`` in relative units (a stress over its limit, minus
one), ``v`` is the largest of them, and a design with ``v > 0`` fails after
``0.05 + 0.9 exp(-3 v)`` of the timeout (slightly over a limit: late, up to 0.95; far over:
early, but never before 0.05, the time to start the trial), with an
error naming the constraint (no modifier keyword). A feasible design succeeds after 0.6 of the
timeout. The reference optimum (for regret) is computed here with SciPy's SLSQP from many
starts, and the tests check it against the published best-known values.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Dict, List, Sequence, Tuple

from ray import tune

from benchmarks.problems import PROBLEMS, Outcome, Problem

SUCCESS_FRACTION = 0.6
EDGE = 0.05  # |v| below this: near the failing region's edge


def _pressure_vessel(x: Sequence[float]) -> Tuple[float, List[float]]:
    ts, th, r, length = x
    cost = 0.6224 * ts * r * length + 1.7781 * th * r**2 + 3.1661 * ts**2 * length + 19.84 * ts**2 * r
    volume = math.pi * r**2 * length + 4.0 / 3.0 * math.pi * r**3
    return cost, [0.0193 * r / ts - 1, 0.00954 * r / th - 1, 1 - volume / 1296000.0, length / 240.0 - 1]


def _welded_beam(x: Sequence[float]) -> Tuple[float, List[float]]:
    h, l, t, b = x
    P, L, E, G = 6000.0, 14.0, 30e6, 12e6
    cost = 1.10471 * h**2 * l + 0.04811 * t * b * (14.0 + l)
    tau1 = P / (math.sqrt(2) * h * l)
    M = P * (L + l / 2)
    R = math.sqrt(l**2 / 4 + ((h + t) / 2) ** 2)
    J = 2 * (math.sqrt(2) * h * l * (l**2 / 12 + ((h + t) / 2) ** 2))
    tau2 = M * R / J
    tau = math.sqrt(tau1**2 + 2 * tau1 * tau2 * l / (2 * R) + tau2**2)
    sigma = 6 * P * L / (b * t**2)
    delta = 4 * P * L**3 / (E * t**3 * b)
    pc = 4.013 * E * math.sqrt(t**2 * b**6 / 36) / L**2 * (1 - t / (2 * L) * math.sqrt(E / (4 * G)))
    return cost, [
        tau / 13600.0 - 1, sigma / 30000.0 - 1, h / b - 1, (0.10471 * h**2 + 0.04811 * t * b * (14 + l)) / 5 - 1,
        0.125 / h - 1, delta / 0.25 - 1, (P / pc - 1) if pc > 0 else 1.0,
    ]


def _spring(x: Sequence[float]) -> Tuple[float, List[float]]:
    d, D, n = x  # wire diameter, coil diameter, active coils
    weight = (n + 2) * D * d**2
    shear = (4 * D**2 - d * D) / (12566 * (D * d**3 - d**4)) + 1 / (5108 * d**2) - 1 if D > d else 1.0
    return weight, [1 - D**3 * n / (71785 * d**4), shear, 1 - 140.45 * d / (D**2 * n), (D + d) / 1.5 - 1]


def _speed_reducer(x: Sequence[float]) -> Tuple[float, List[float]]:
    x1, x2, x3, x4, x5, x6, x7 = x
    weight = (
        0.7854 * x1 * x2**2 * (3.3333 * x3**2 + 14.9334 * x3 - 43.0934)
        - 1.508 * x1 * (x6**2 + x7**2) + 7.4777 * (x6**3 + x7**3) + 0.7854 * (x4 * x6**2 + x5 * x7**2)
    )
    return weight, [
        27 / (x1 * x2**2 * x3) - 1,
        397.5 / (x1 * x2**2 * x3**2) - 1,
        1.93 * x4**3 / (x2 * x3 * x6**4) - 1,
        1.93 * x5**3 / (x2 * x3 * x7**4) - 1,
        math.sqrt((745 * x4 / (x2 * x3)) ** 2 + 16.9e6) / (110 * x6**3) - 1,
        math.sqrt((745 * x5 / (x2 * x3)) ** 2 + 157.5e6) / (85 * x7**3) - 1,
        x2 * x3 / 40 - 1,
        5 * x2 / x1 - 1,
        x1 / (12 * x2) - 1,
        (1.5 * x6 + 1.9) / x4 - 1,
        (1.1 * x7 + 1.9) / x5 - 1,
    ]


def _three_bar_truss(x: Sequence[float]) -> Tuple[float, List[float]]:
    a1, a2 = x
    P, sigma, length = 2.0, 2.0, 100.0
    area = math.sqrt(2) * a1**2 + 2 * a1 * a2
    return (2 * math.sqrt(2) * a1 + a2) * length, [
        (math.sqrt(2) * a1 + a2) / area * P / sigma - 1,
        a2 / area * P / sigma - 1,
        1 / (math.sqrt(2) * a2 + a1) * P / sigma - 1,
    ]


def _gramacy(x: Sequence[float]) -> Tuple[float, List[float]]:
    x1, x2 = x
    return x1 + x2, [
        1.5 - x1 - 2 * x2 - 0.5 * math.sin(2 * math.pi * (x1**2 - 2 * x2)),
        x1**2 + x2**2 - 1.5,
    ]


#: name -> (function, bounds, best known value in the literature, where it is from)
Objective = Callable[[Sequence[float]], Tuple[float, List[float]]]
SPECS: Dict[str, Tuple[Objective, List[Tuple[float, float]], float, str]] = {
    "pressure_vessel": (_pressure_vessel, [(0.0625, 10.0), (0.0625, 10.0), (10.0, 50.0), (150.0, 200.0)],
                        5885.33, "continuous relaxation, x4 at its bound 200"),
    "welded_beam": (_welded_beam, [(0.125, 10.0), (0.1, 10.0), (0.1, 10.0), (0.1, 10.0)],
                    1.72485, "Coello Coello 2000; Hedar & Fukushima 2006"),
    "spring": (_spring, [(0.05, 2.0), (0.25, 1.3), (2.0, 15.0)], 0.0126652, "Coello Coello 2000"),
    "speed_reducer": (_speed_reducer,
                      [(2.6, 3.6), (0.7, 0.8), (17.0, 28.0), (7.3, 8.3), (7.8, 8.3), (2.9, 3.9), (5.0, 5.5)],
                      2996.348, "Mezura-Montes & Coello Coello 2005 (continuous x3)"),
    "three_bar_truss": (_three_bar_truss, [(0.0, 1.0), (0.0, 1.0)], 263.8958, "Ray & Saini 2001"),
    "gramacy": (_gramacy, [(0.0, 1.0), (0.0, 1.0)], 0.5998, "Gramacy et al. 2016"),
}


def _params(name: str) -> List[str]:
    return [f"x{i + 1}" for i in range(len(SPECS[name][1]))]


def violation(name: str, x: Sequence[float]) -> Tuple[float, int]:
    """The largest relative constraint value and its index (feasible when <= 0)."""
    _, g = SPECS[name][0](x)
    worst = max(range(len(g)), key=lambda i: g[i])
    return g[worst], worst


def _evaluator(name: str) -> Callable[[Dict[str, float]], Outcome]:
    function, params = SPECS[name][0], _params(name)

    def evaluate(config: Dict[str, float]) -> Outcome:
        x = [config[p] for p in params]
        try:
            value, g = function(x)
        except (ZeroDivisionError, ValueError, OverflowError):
            return Outcome(None, 0.02, "RuntimeError: design could not be analysed")
        v = max(g)
        if v > 0:
            return Outcome(None, 0.05 + 0.9 * math.exp(-3 * min(v, 50.0)),
                           f"RuntimeError: design constraint g{g.index(v) + 1} violated by {v:.1%}")
        return Outcome(value, SUCCESS_FRACTION)

    return evaluate


def _edge(name: str) -> Callable[[Dict[str, float]], bool]:
    function, params = SPECS[name][0], _params(name)

    def near(config: Dict[str, float]) -> bool:
        try:
            return abs(max(function([config[p] for p in params])[1])) <= EDGE
        except (ZeroDivisionError, ValueError, OverflowError):
            return False

    return near


@lru_cache(maxsize=None)
def reference_optimum(name: str, starts: int = 200, seed: int = 0) -> float:
    """The best feasible value SLSQP finds from ``starts`` random starts (for regret)."""
    import numpy as np
    from scipy.optimize import minimize

    function, bounds, _, _ = SPECS[name]
    rng = np.random.default_rng(seed)
    lows, highs = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    scale = highs - lows

    def safe(x):
        try:
            return function(lows + scale * x)
        except (ZeroDivisionError, ValueError, OverflowError):
            return math.inf, [1e3] * 16

    best = math.inf
    for _ in range(starts):
        x0 = rng.uniform(0, 1, len(bounds))
        unit = abs(safe(x0)[0]) if math.isfinite(safe(x0)[0]) and safe(x0)[0] else 1.0  # SLSQP wants O(1)
        result = minimize(
            lambda x: safe(x)[0] / unit, x0, method="SLSQP", bounds=[(0, 1)] * len(bounds),
            constraints=[{"type": "ineq", "fun": lambda x: -np.array(safe(x)[1], dtype=float)}],
            options={"maxiter": 500, "ftol": 1e-12},
        )
        x = np.clip(result.x, 0, 1)
        value, g = safe(x)
        if max(g) <= 1e-6 and value < best:  # SLSQP ends on the boundary, within its tolerance
            best = value
    return best


def _problem(name: str, description: str) -> Problem:
    bounds = SPECS[name][1]
    return Problem(
        name=name,
        space={p: tune.uniform(lo, hi) for p, (lo, hi) in zip(_params(name), bounds)},
        mode="min",
        evaluate=_evaluator(name),
        target=None,
        description=description + f" Best known: {SPECS[name][2]:g} ({SPECS[name][3]}).",
        edge=_edge(name),
        optimum=lambda: reference_optimum(name),
    )


PUBLISHED = {p.name: p for p in (
    _problem("pressure_vessel", "Pressure vessel cost (4 parameters, 4 constraints), minimize."),
    _problem("welded_beam", "Welded beam cost (4 parameters, 7 constraints), minimize."),
    _problem("spring", "Tension/compression spring weight (3 parameters, 4 constraints), minimize."),
    _problem("speed_reducer", "Speed reducer weight (7 parameters, 11 constraints), minimize."),
    _problem("three_bar_truss", "Three-bar truss volume (2 parameters, 3 constraints), minimize."),
    _problem("gramacy", "Gramacy et al.'s toy: x1 + x2 on the unit square, 2 constraints, minimize."),
)}

#: Every problem the benchmarks know: the ones designed here and the published ones.
ALL_PROBLEMS = {**PROBLEMS, **PUBLISHED}

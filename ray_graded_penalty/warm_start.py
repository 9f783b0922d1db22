"""A warm start: earlier trials, failures included, told to a new search's model.

:func:`tell_history` decides each earlier trial as a finished one would be
(:func:`~ray_graded_penalty.decision.decide_past`) and applies it in the same order
(:func:`~ray_graded_penalty.telling.tell_past`). One objective only.
"""

from __future__ import annotations

import logging
from typing import List

from ray_graded_penalty.backends import RankKeeper
from ray_graded_penalty.decision import Rules, decide_past
from ray_graded_penalty.ledger import Ledger
from ray_graded_penalty.records import PastTrial
from ray_graded_penalty.telling import tell_past

logger = logging.getLogger("ray_graded_penalty")


def tell_history(trials: List[PastTrial], ledger: Ledger, rules: Rules, keeper: RankKeeper) -> int:
    """Tell ``trials`` under the keys ``history-<n>``; returns how many."""
    if ledger.objectives.several:
        raise ValueError("a warm start takes one objective; this search has several")
    for past in trials:
        tell_past(decide_past(f"history-{len(ledger.outcomes)}", past, rules), ledger, keeper)
    if trials:
        logger.info("Warm start: told %d earlier trials (%d failed).", len(trials), sum(p.failed for p in trials))
    return len(trials)

"""The HyperOpt backend: Ray's ``HyperOptSearch``, and everything read of HyperOpt's and
``HyperOptSearch``'s internals. No other module of the package, its tests or its benchmarks
reads them.

HyperOpt's TPE reads the losses of its trial documents, so the losses of failures already told
are rewritten when the placement moves; earlier trials (a warm start) go straight into its
trial list, since ``HyperOptSearch`` has no ``add_evaluated_point``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

from ray.tune.search import Searcher
from ray.tune.utils.util import flatten_dict, unflatten_dict

from ray_graded_penalty._core.checks import check_past_parameters
from ray_graded_penalty.backends.generic import RankKeeper


class HyperOptView:
    """What the package reads of a Ray ``HyperOptSearch``: its trial list, live trials, domain."""

    def __init__(self, search: Any) -> None:
        self.searcher = search

    @property
    def trials(self) -> Any:
        """HyperOpt's ``Trials`` (None before the search space is set)."""
        return getattr(self.searcher, "_hpopt_trials", None)

    @property
    def live_tids(self) -> Dict[str, int]:
        """Ray trial id -> HyperOpt tid, while the trial runs."""
        live = getattr(self.searcher, "_live_trial_mapping", {}) or {}
        return {trial_id: entry[0] for trial_id, entry in live.items()}

    @property
    def domain(self) -> Any:
        return getattr(self.searcher, "domain", None)

    @property
    def loss_sign(self) -> float:
        """HyperOpt minimizes ``loss = loss_sign * value``."""
        return self.searcher.metric_op

    def documents(self) -> List[Dict[str, Any]]:
        """Every trial document, those being evaluated included."""
        return list(self.trials._dynamic_trials) if self.trials is not None else []

    def done_documents(self) -> List[Dict[str, Any]]:
        """The trial documents that finished with a loss."""
        return [t for t in self.documents() if t["result"].get("status") == "ok"]

    def choices_as_indices(self, point: Dict[str, Any]) -> Dict[str, Any]:
        """``point`` (a nested Ray config) with each choice as its index, as HyperOpt stores it.

        Not Ray's ``_convert_categories_to_indices``: it takes a choice whose value is a dict
        for a nested space and never returns (HyperOpt's expression answers every key), and
        finds no tuple among the categories (HyperOpt keeps a tuple as an expression)."""
        return _as_indices(point, getattr(self.searcher, "_space", None) or {}, "")

    def insert_done(self, config: Dict[str, Any], loss: float) -> int:
        """Add a finished trial of ``config`` (a flat Ray config) with ``loss``; its tid."""
        from hyperopt import JOB_STATE_DONE
        from hyperopt.fmin import generate_trial

        trials, domain = self.trials, self.domain
        if trials is None or domain is None:
            raise RuntimeError("warm start needs the search space: it is applied once Tune sets it")
        check_past_parameters(config, domain.params)
        point = self.choices_as_indices(unflatten_dict(config))
        tid = trials.new_trial_ids(1)[0]
        doc = generate_trial(tid, flatten_dict(point))
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"loss": loss, "status": "ok"}
        trials.insert_trial_docs([doc])
        trials.refresh()
        return tid


def _as_indices(point: Dict[str, Any], space: Any, prefix: str) -> Dict[str, Any]:
    """See :meth:`HyperOptView.choices_as_indices`; ``space`` is ``HyperOptSearch``'s converted
    space, where a choice is a ``switch`` of an index over its categories' expressions."""
    from hyperopt.pyll import Apply, rec_eval

    indexed: Dict[str, Any] = {}
    for key, value in point.items():
        domain = space.get(key) if isinstance(space, dict) else None
        if isinstance(domain, dict) and isinstance(value, dict):  # a nested space
            indexed[key] = _as_indices(value, domain, f"{prefix}{key}/")
        elif isinstance(domain, Apply) and domain.name == "switch":
            categories = [rec_eval(option) for option in domain.pos_args[1:]]
            indexed[key] = category_index(value, categories, f"{prefix}{key}")
        else:
            indexed[key] = value
    return indexed


def category_index(value: Any, categories: List[Any], name: str) -> int:
    """The index of ``value`` among a choice's ``categories``: of its own type first (``1`` is
    not ``True``), a tuple also as the list HyperOpt may make of it."""
    for same in (lambda c: type(c) is type(value) and c == value, lambda c: c == value,
                 lambda c: isinstance(c, (list, tuple)) and isinstance(value, (list, tuple))
                 and list(c) == list(value)):
        for index, category in enumerate(categories):
            if same(category):
                return index
    raise ValueError(f"an earlier trial's {name}={value!r} is none of the search space's choices {categories}")


class HyperOptRankKeeper(RankKeeper):
    """Rewrites the losses of failures already told when the placement moves."""

    whole_history = True

    def __init__(self, searcher: Searcher, searcher_name: Optional[str] = None) -> None:
        super().__init__(searcher, searcher_name)
        self._view = HyperOptView(searcher)
        self._tids: Dict[str, int] = {}  # Ray trial id -> hyperopt tid, for told failures
        self._seen: Set[int] = set()  # tids of the finished trials successes_elsewhere read

    @property
    def rewrites_history(self) -> bool:
        return self._view.trials is not None

    def before_tell(self, trial_id: str, violation: float, attrs: Optional[Dict[str, Any]] = None,
                    key: Optional[str] = None) -> None:
        live = self._view.live_tids
        if violation > 0 and trial_id in live:
            self._tids[key or trial_id] = live[trial_id]

    def successes_elsewhere(self) -> List[Tuple[float, ...]]:
        below = set(self._tids.values())
        found: List[Tuple[float, ...]] = []
        for doc in self._view.done_documents():
            tid = doc["tid"]
            if tid in self._seen or tid in below:
                continue
            self._seen.add(tid)
            found.append((self._view.loss_sign * doc["result"]["loss"],))
        return found

    @property
    def takes_history(self) -> bool:
        return True  # written into HyperOpt's trials, which Ray's HyperOptSearch has no add_evaluated_point for

    def add_history(self, key: str, config: Dict[str, Any], value: float, violation: Optional[float],
                    attrs: Optional[Dict[str, Any]] = None) -> None:
        tid = self._view.insert_done(config, self._view.loss_sign * value)
        if violation is not None:
            self._tids[key] = tid

    def move_below(self, moves: Dict[str, Tuple[float, ...]]) -> None:
        by_tid = {t["tid"]: t for t in self._view.documents()}
        sign = self._view.loss_sign
        for trial_id, values in moves.items():
            doc = by_tid.get(self._tids.get(trial_id, -1))
            if doc is not None and doc.get("result", {}).get("status") == "ok":
                doc["result"]["loss"] = sign * values[0]  # HyperOpt: one objective
        self._view.trials.refresh()

    def get_state(self) -> Dict[str, Any]:
        return {"tids": dict(self._tids)}

    def set_state(self, state: Dict[str, Any]) -> None:
        self._tids = dict(state.get("tids", {}))
        self._seen = set()  # of the trials before: a restore replaces them

"""The Ray Tune ``Searcher`` that tells its inner TPE successes and graded failures.

Like Ray's ``ConcurrencyLimiter`` it is a thin wrapper: it changes only what a finished
trial is told as, and delegates everything else to the inner searcher.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from typing import Any, Dict, List, Optional, Union

from ray import cloudpickle
from ray.tune.search import Searcher
from ray.tune.search.util import _set_search_properties_backwards_compatible

from ray_graded_penalty import compat
from ray_graded_penalty.backends import BACKENDS, build_backend, failure_violation, rank_keeper_for
from ray_graded_penalty.callback import GradedPenaltyCallback
from ray_graded_penalty.history import HistorySource, PastTrial, read_history
from ray_graded_penalty.placement import FailurePlacement
from ray_graded_penalty.policy import Grade, PenaltyPolicy, check_elapsed, check_mode, check_timeout
from ray_graded_penalty.records import TrialOutcome, TrialRecord
from ray_graded_penalty.timeout import timeout_error_text
from ray_graded_penalty.trial_errors import first_line

logger = logging.getLogger("ray_graded_penalty")

_STATE_VERSION = 1
_NO_CALLBACK_HINT = (
    "add its callback to the run so failures are graded from when they really started and "
    "what killed them: tune.RunConfig(callbacks=[searcher.callback])"
)


class GradedPenaltySearcher(Searcher):
    """Wraps a TPE searcher so that failed trials become graded penalties it learns from.

    Successes reach the inner searcher unchanged. A failed trial (an error, a timeout, a stop
    before the metric was reported, a NaN metric) reaches it as a completed result whose metric
    is a finite penalty: the earlier and the worse the failure, the worse the value, and never
    better than any success. Every finished trial reaches the inner searcher exactly once.

    Args:
        searcher: "optuna" (Optuna's TPESampler, the default), "hyperopt" (HyperOpt's TPE) or
            any ``ray.tune.search.Searcher`` instance, e.g. an ``OptunaSearch(...)`` you have.
        trial_timeout_s: The per-trial timeout in seconds. A failure's progress is its elapsed
            time against it.
        policy: The :class:`PenaltyPolicy`; defaults to the design document's table.
        metric: The metric to optimize; defaults to ``TuneConfig(metric=...)``.
        mode: "max" or "min"; defaults to ``TuneConfig(mode=...)``.
        points_to_evaluate: Configurations to try first (built-in backends only).
        seed: Seed of the built-in backend's sampler.
        enforce_timeout: If True (the default), the callback ends any trial that runs longer
            than ``trial_timeout_s`` (see :class:`~ray_graded_penalty.TrialTimeout`) and it is
            graded as a timeout at 100 % completion.
        warm_start: Earlier trials to start from, failures included: an experiment directory,
            a CSV or a DataFrame (see :meth:`add_history`). Checked here, told to the model
            when Tune sets the search space.

    Example:
        >>> from ray import tune
        >>> searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600)
        >>> tuner = tune.Tuner(  # doctest: +SKIP
        ...     trainable,
        ...     param_space={"x": tune.uniform(0, 1)},
        ...     tune_config=tune.TuneConfig(metric="throughput", mode="max",
        ...                                 search_alg=searcher, num_samples=30),
        ...     run_config=tune.RunConfig(callbacks=[searcher.callback]),
        ... )
    """

    def __init__(
        self,
        searcher: Union[str, Searcher] = "optuna",
        *,
        trial_timeout_s: Optional[float] = None,
        policy: Optional[PenaltyPolicy] = None,
        metric: Optional[str] = None,
        mode: Optional[str] = None,
        points_to_evaluate: Optional[List[Dict[str, Any]]] = None,
        seed: Optional[int] = None,
        enforce_timeout: bool = True,
        warm_start: Optional[HistorySource] = None,
    ) -> None:
        if trial_timeout_s is None:
            raise ValueError(
                "trial_timeout_s is required: the per-trial timeout in seconds that a failed "
                "trial's progress is measured against, e.g. trial_timeout_s=600"
            )
        self.trial_timeout_s = check_timeout("trial_timeout_s", trial_timeout_s)
        if policy is not None and not isinstance(policy, PenaltyPolicy):
            raise TypeError(f"policy must be a PenaltyPolicy, got {type(policy).__name__}")
        self.policy = policy or PenaltyPolicy()
        if mode is not None:
            check_mode(mode)
        if metric is not None and not isinstance(metric, str):
            raise TypeError(f"metric must be a single metric name (str), got {metric!r}")

        if isinstance(searcher, str):
            self.inner = build_backend(searcher, seed=seed, points_to_evaluate=points_to_evaluate)
        elif isinstance(searcher, Searcher):
            if points_to_evaluate is not None or seed is not None:
                raise ValueError(
                    "points_to_evaluate and seed configure the built-in backends "
                    f"{list(BACKENDS)}; set them on your {type(searcher).__name__} instead"
                )
            self.inner = searcher
        else:
            raise TypeError(
                f"searcher must be one of {list(BACKENDS)} or a ray.tune.search.Searcher "
                f"instance, got {type(searcher).__name__}: {searcher!r}"
            )
        super().__init__(metric=metric or self.inner.metric, mode=mode or self.inner.mode)
        if self._mode is not None:
            check_mode(self._mode)

        self._keeper = rank_keeper_for(self.inner)
        self._placement: Optional[FailurePlacement] = None
        self._records: Dict[str, TrialRecord] = {}
        self._outcomes: Dict[str, TrialOutcome] = {}
        self._failure_magnitudes: Dict[str, float] = {}
        self._best: Optional[TrialOutcome] = None
        self._least_bad: Optional[TrialOutcome] = None
        self._callback_attached = False
        self._warned_no_callback = False
        self._warm_start: List[PastTrial] = [] if warm_start is None else read_history(warm_start)
        self.callback = GradedPenaltyCallback(self, enforce_timeout=enforce_timeout)

    # ----- what a user reads -------------------------------------------------------------

    @property
    def outcomes(self) -> Dict[str, TrialOutcome]:
        """What the inner searcher was told, per finished trial id (a copy)."""
        return dict(self._outcomes)

    @property
    def best(self) -> Optional[TrialOutcome]:
        """The best success so far; while everything fails, the least-bad failure."""
        return self._best or self._least_bad

    # ----- Ray's Searcher interface ------------------------------------------------------

    def set_search_properties(
        self, metric: Optional[str], mode: Optional[str], config: Dict, **spec: Any
    ) -> bool:
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        if self._mode is not None:
            check_mode(self._mode)
        accepted = _set_search_properties_backwards_compatible(
            self.inner.set_search_properties, self._metric, self._mode, config, **spec
        )
        if self._warm_start:
            warm, self._warm_start = self._warm_start, []
            self._tell_history(warm)
        return accepted

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.inner.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> Optional[Dict]:
        self._flush_failures()
        self._keeper.before_suggest()
        config = self.inner.suggest(trial_id)
        if isinstance(config, dict):
            self._records[trial_id] = TrialRecord(config=config, suggested_at=time.time())
        return config

    def on_trial_result(self, trial_id: str, result: Dict) -> None:
        record = self._records.get(trial_id)
        if record is not None and "time_total_s" in result:
            record.time_total_s = result["time_total_s"]
        value = result.get(self._metric) if self._metric else None
        # Intermediate results without a finite metric are not passed on: OptunaSearch would
        # raise a KeyError for a missing one (ending the experiment), or report a NaN to Optuna.
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: Optional[Dict] = None, error: bool = False
    ) -> None:
        self._flush_failures(except_id=trial_id)
        if trial_id in self._outcomes:
            logger.debug("Trial %s was already told; ignoring its completion.", trial_id)
            return
        record = self._records.get(trial_id)
        if record is None:  # not suggested by us: nothing to grade, pass it on as it is
            self.inner.on_trial_complete(trial_id, result=result, error=error)
            return
        if record.ended_at is None:
            record.ended_at = time.time()
        if result and "time_total_s" in result:
            record.time_total_s = result["time_total_s"]
        if error:
            # Ray tells the searcher before the callback that knows the error: wait for it.
            record.errored = True
            if record.details_known:
                self._tell_failure(trial_id)
            return

        metric = self._require_metric()
        value = (result or {}).get(metric)
        if value is None:
            record.error = (
                f"stopped before reporting metric {metric!r}; graded as a timeout"
            )
            self._tell_failure(trial_id)
        elif not isinstance(value, (int, float)) or not math.isfinite(value):
            logger.warning(
                "Trial %s reported %s=%r, which TPE cannot use; it is graded as a failure.",
                trial_id, metric, value,
            )
            record.error = f"non-finite metric {metric}={value!r}"
            self._tell_failure(trial_id)
        else:
            self._tell_success(trial_id, dict(result or {}), float(value))

    def add_evaluated_point(self, *args: Any, **kwargs: Any) -> None:
        return self.inner.add_evaluated_point(*args, **kwargs)

    def on_pause(self, trial_id: str) -> None:
        self.inner.on_pause(trial_id)

    def on_unpause(self, trial_id: str) -> None:
        self.inner.on_unpause(trial_id)

    # ----- failures told without Ray's loop ----------------------------------------------

    def record_failure(
        self,
        trial_id: str,
        elapsed_s: float,
        error: str = "",
        timeout_s: Optional[float] = None,
    ) -> None:
        """Tell the failure of a suggested trial, with its details, if it was not told yet.

        For replays, simulations and benchmarks that drive the searcher directly. It may come
        before or after ``on_trial_complete(trial_id, error=True)``: the trial is told once.

        Example:
            >>> from ray import tune
            >>> searcher = GradedPenaltySearcher(trial_timeout_s=600, metric="score", mode="max")
            >>> searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
            True
            >>> config = searcher.suggest("t1")
            >>> searcher.record_failure("t1", elapsed_s=42.0, error="CUDA out of memory")
            >>> searcher.outcomes["t1"].penalty
            -1500.0
        """
        elapsed = check_elapsed(elapsed_s)
        timeout = None if timeout_s is None else check_timeout("timeout_s", timeout_s)
        if not isinstance(error, str):
            raise TypeError(f"error must be a string, got {type(error).__name__}: {error!r}")
        if trial_id in self._outcomes:
            logger.debug("Trial %s was already told; record_failure ignored.", trial_id)
            return
        record = self._known_record(trial_id)
        record.elapsed_s, record.error, record.timeout_s = elapsed, error, timeout
        record.details_known = True
        self._tell_failure(trial_id)

    # ----- what the callback reports (TrialEvents) ---------------------------------------

    def callback_attached(self) -> None:
        """The callback is part of the run (:class:`~ray_graded_penalty.events.TrialEvents`)."""
        self._callback_attached = True

    def trial_started(self, trial_id: str) -> None:
        """The trial started RUNNING; a retry starts over, its last attempt is what counts."""
        record = self._records.get(trial_id)
        if record is not None:
            record.started_at = time.time()
            record.ended_at = record.elapsed_s = record.error = None
            record.timed_out = record.details_known = False

    def trial_timed_out(self, trial_id: str) -> None:
        """The watchdog ends the trial: it is graded as a timeout at 100 % completion."""
        record = self._records.get(trial_id)
        if record is not None:
            record.timed_out, record.elapsed_s = True, self.trial_timeout_s
            record.error = timeout_error_text(self.trial_timeout_s)

    def trial_errored(self, trial_id: str, error: str) -> None:
        """The trial's final error: told now if Ray already reported it, else when it does."""
        record = self._records.get(trial_id)
        if record is None or trial_id in self._outcomes:
            return
        if record.ended_at is None:
            record.ended_at = time.time()
        if not record.timed_out:
            record.error = error
        record.details_known = True
        if record.errored:
            self._tell_failure(trial_id)

    def experiment_ended(self) -> None:
        """The run is over: errored trials still waiting for their details are told now."""
        self._flush_failures()

    # ----- telling the inner searcher -----------------------------------------------------

    def _known_record(self, trial_id: str) -> TrialRecord:
        record = self._records.get(trial_id)
        if record is None:
            raise ValueError(
                f"unknown trial id {trial_id!r}: it was not suggested by this searcher "
                f"(or was already told); record_failure is for trials from suggest()"
            )
        return record

    def _require_metric(self) -> str:
        if not self._metric or not self._mode:
            raise ValueError(
                "GradedPenaltySearcher needs a metric and a mode: pass them to "
                "tune.TuneConfig(metric=..., mode=...) or to the searcher "
                f"(got metric={self._metric!r}, mode={self._mode!r})"
            )
        return self._metric

    def _placement_for_mode(self) -> FailurePlacement:
        if self._placement is None:
            self._require_metric()
            self._placement = FailurePlacement(self._mode, self.policy.least_magnitude)
        return self._placement

    def _flush_failures(self, except_id: Optional[str] = None) -> None:
        """Tell errored trials whose details never came (no callback, or it was skipped)."""
        waiting = [
            tid for tid, r in self._records.items() if r.errored and tid != except_id
        ]
        for trial_id in waiting:
            if not self._callback_attached and not self._warned_no_callback:
                self._warned_no_callback = True
                logger.warning(
                    "GradedPenaltySearcher graded trial %s without its error text or start "
                    "time: %s", trial_id, _NO_CALLBACK_HINT,
                )
            self._tell_failure(trial_id)

    def _tell_failure(self, trial_id: str) -> None:
        metric = self._require_metric()
        record = self._records.pop(trial_id)
        elapsed = record.elapsed(time.time(), starts_reported=self._callback_attached)
        grade = self.policy.grade(elapsed, record.timeout_s or self.trial_timeout_s, record.error)
        outcome = self._failure_outcome(trial_id, record.config, grade, record.error)
        self._keeper.before_tell(trial_id, failure_violation(grade.rank))
        self.inner.on_trial_complete(trial_id, result={metric: outcome.told})
        self._remember(outcome)
        logger.info(
            "Trial %s failed after %.1fs / %.0fs (%.1f%%): %s -> penalty %.1f%s. Best so far: %s",
            trial_id, grade.elapsed_s, grade.timeout_s, 100 * grade.completion,
            first_line(record.error, "(no error text)"), outcome.penalty,
            "" if outcome.told == outcome.penalty else f" (told {outcome.told:.6g}, below every success)",
            self._describe_best(),
        )

    def _tell_success(self, trial_id: str, result: Dict, value: float) -> None:
        record = self._records.pop(trial_id)
        outcome = self._success_outcome(
            trial_id, record.config, value,
            record.elapsed(time.time(), starts_reported=self._callback_attached),
        )
        self.inner.on_trial_complete(trial_id, result=result)
        if self._remember(outcome):
            logger.info("Trial %s succeeded: %s=%.6g, the best so far.", trial_id, self._metric, value)

    def _failure_outcome(
        self, key: str, config: Optional[Dict], grade: Grade, error: Optional[str]
    ) -> TrialOutcome:
        """Place a failure below every success and describe it (the caller tells it)."""
        placement = self._placement_for_mode()
        if placement.add_failure(grade.magnitude):
            self._move_failures()
        self._failure_magnitudes[key] = grade.magnitude
        return TrialOutcome(
            trial_id=key, config=config, failed=True, told=placement.value(grade.magnitude),
            penalty=grade.penalty(self._mode), elapsed_s=grade.elapsed_s,
            timeout_s=grade.timeout_s, completion=grade.completion,
            error_class=grade.modifier, error=error,
        )

    def _success_outcome(
        self, key: str, config: Optional[Dict], value: float, elapsed_s: Optional[float]
    ) -> TrialOutcome:
        if self._placement_for_mode().add_success(value):
            self._move_failures()
        return TrialOutcome(trial_id=key, config=config, failed=False, told=value, metric=value,
                            elapsed_s=elapsed_s)

    def _remember(self, outcome: TrialOutcome) -> bool:
        """Record a told outcome; True if it is the new best success."""
        self._outcomes[outcome.trial_id] = outcome
        if outcome.failed:
            least_bad = self._least_bad
            magnitude = self._failure_magnitudes[outcome.trial_id]
            if least_bad is None or magnitude < self._failure_magnitudes[least_bad.trial_id]:
                self._least_bad = outcome
            return False
        if self._best is None or self._signed(outcome.told) > self._signed(self._best.told):
            self._best = outcome
            return True
        return False

    # ----- warm start ---------------------------------------------------------------------

    def add_history(self, source: HistorySource) -> int:
        """Tell the inner model earlier trials, failures included; returns how many.

        ``source`` is an experiment directory, a CSV or a DataFrame with the columns described
        in :mod:`ray_graded_penalty.history` (a :func:`~ray_graded_penalty.report.failure_report`
        has them). Needs the search space, so call it after Tune set it, or pass
        ``warm_start=`` to the constructor, which applies it then.
        """
        return self._tell_history(read_history(source))

    def _tell_history(self, trials: List[PastTrial]) -> int:
        self._require_metric()
        for past in trials:
            key = f"history-{len(self._outcomes)}"
            if past.failed:
                grade = self.policy.grade(past.elapsed_s, past.timeout_s or self.trial_timeout_s, past.error)
                outcome = self._failure_outcome(key, past.config, grade, past.error)
                self._keeper.add_history(key, past.config, outcome.told, failure_violation(grade.rank))
            else:
                outcome = self._success_outcome(key, past.config, past.value, None)
                self._keeper.add_history(key, past.config, past.value, None)
            self._remember(outcome)
        if trials:
            logger.info("Warm start: told %d earlier trials (%d failed).", len(trials),
                        sum(p.failed for p in trials))
        return len(trials)

    def _signed(self, value: float) -> float:
        """``value`` turned so that larger is better, whatever the mode."""
        return value if self._mode == "max" else -value

    def _move_failures(self) -> None:
        placement = self._placement_for_mode()
        values = {tid: placement.value(m) for tid, m in self._failure_magnitudes.items()}
        if not values:
            return
        if self._keeper.move_failures(values):
            for tid, value in values.items():
                self._outcomes[tid].told = value
            logger.info("Moved %d failures told earlier below every success.", len(values))
        elif not self._keeper.whole_history:
            logger.info(
                "A success ranks below failures told earlier; %s cannot rewrite its history, "
                "so only failures told from now on are placed below it.",
                type(self.inner).__name__,
            )

    def _describe_best(self) -> str:
        best = self.best
        if best is None:
            return "none"
        if best.failed:
            return f"no success yet; least-bad failure {best.trial_id} (penalty {best.penalty:.1f}) {best.config}"
        return f"{best.trial_id} {self._metric}={best.told:.6g} {best.config}"

    # ----- checkpointing -----------------------------------------------------------------

    def get_state(self) -> Dict[str, Any]:
        """This searcher's own state, without the inner searcher's (see :meth:`save`)."""
        return {
            "version": _STATE_VERSION,
            "metric": self._metric,
            "mode": self._mode,
            "trial_timeout_s": self.trial_timeout_s,
            "policy": self.policy,
            "placement": self._placement,
            "records": self._records,
            "outcomes": self._outcomes,
            "failure_magnitudes": self._failure_magnitudes,
            "best": self._best,
            "least_bad": self._least_bad,
            "keeper": self._keeper.get_state(),
        }

    def set_state(self, state: Dict[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported GradedPenaltySearcher state version {state.get('version')!r}")
        self._metric, self._mode = state["metric"], state["mode"]
        self.trial_timeout_s, self.policy = state["trial_timeout_s"], state["policy"]
        self._placement = state["placement"]
        self._records, self._outcomes = state["records"], state["outcomes"]
        self._failure_magnitudes = state["failure_magnitudes"]
        self._best, self._least_bad = state["best"], state["least_bad"]
        self._keeper.set_state(state["keeper"])

    def save(self, checkpoint_path: str) -> None:
        """Save this searcher and its inner searcher together, atomically, to one file.

        Errored trials still waiting for their details are told first, so a run without the
        callback tells its last failure at Ray's final checkpoint.
        """
        self._flush_failures()
        payload = cloudpickle.dumps({"state": self.get_state(), "inner": _inner_state(self.inner)})
        tmp_path = f"{checkpoint_path}.tmp-{os.getpid()}"
        with open(tmp_path, "wb") as f:
            f.write(payload)
        os.replace(tmp_path, checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        """Restore what :meth:`save` wrote, the inner searcher included."""
        with open(checkpoint_path, "rb") as f:
            payload = cloudpickle.loads(f.read())
        _load_inner_state(self.inner, payload["inner"])
        self.set_state(payload["state"])


def _inner_state(inner: Searcher) -> Dict[str, Any]:
    """The inner searcher's state: its wrappers' ``get_state()`` and its base's ``save()``.

    The same split as Ray's ``SearchGenerator``: a ``ConcurrencyLimiter``'s own ``save`` keeps
    only the searcher it wraps, and would forget which trials are live.
    """
    *outer, inner = compat.inner_searchers(inner)
    wrappers = [wrapper.get_state() for wrapper in outer]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inner.pkl")
        inner.save(path)
        with open(path, "rb") as f:
            return {"wrappers": wrappers, "base": f.read()}


def _load_inner_state(inner: Searcher, state: Dict[str, Any]) -> None:
    for wrapper_state in state["wrappers"]:
        inner.set_state(wrapper_state)
        inner = inner.searcher
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inner.pkl")
        with open(path, "wb") as f:
            f.write(state["base"])
        inner.restore(path)

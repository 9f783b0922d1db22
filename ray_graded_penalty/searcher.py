"""The Ray Tune ``Searcher`` that tells its inner TPE successes and graded failures.

Like Ray's ``ConcurrencyLimiter`` it is a thin wrapper: it changes only what a finished
trial is told as, and delegates everything else to the inner searcher.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, Iterable, List, Optional, Union

from ray import cloudpickle
from ray.tune.search import Searcher
from ray.tune.search.util import _set_search_properties_backwards_compatible

from ray_graded_penalty import compat
from ray_graded_penalty.backends import BACKENDS, build_backend, failure_violation, rank_keeper_for
from ray_graded_penalty.callback import GradedPenaltyCallback
from ray_graded_penalty.checkpoint import inner_state, load_inner_state, state_from_v1
from ray_graded_penalty.history import HistorySource, PastTrial, read_history
from ray_graded_penalty.ledger import Ledger
from ray_graded_penalty.objectives import MetricArg, Objectives
from ray_graded_penalty.policy import PenaltyPolicy, check_elapsed, check_mode, check_timeout
from ray_graded_penalty.records import TrialOutcome, TrialRecord
from ray_graded_penalty.slo import SLO, SLO_ERROR_CLASS, Verdict, check_slos, judge, miss_rank
from ray_graded_penalty.timeout import timeout_error_text
from ray_graded_penalty.trial_errors import first_line

logger = logging.getLogger("ray_graded_penalty")

_STATE_VERSION = 2
_NO_CALLBACK_HINT = (
    "add its callback to the run so failures are graded from when they really started and "
    "what killed them: tune.RunConfig(callbacks=[searcher.callback])"
)


class GradedPenaltySearcher(Searcher):
    """Wraps a TPE searcher so that failed trials become graded penalties it learns from.

    Successes reach the inner searcher unchanged. A failed trial (an error, a timeout, a stop
    before the metric was reported, a NaN metric) reaches it as a completed result whose metric
    is a finite penalty: the earlier and the worse the failure, the worse the value, and never
    better than any success. With ``slos``, a success that misses an SLO ranks below every
    success that meets them, by how far it misses, and above every failure. Every finished
    trial reaches the inner searcher exactly once.

    Args:
        searcher: "optuna" (Optuna's TPESampler, the default), "hyperopt" (HyperOpt's TPE) or
            any ``ray.tune.search.Searcher`` instance, e.g. an ``OptunaSearch(...)`` you have.
        trial_timeout_s: The per-trial timeout in seconds. A failure's progress is its elapsed
            time against it.
        policy: The :class:`PenaltyPolicy`; defaults to the design document's table.
        metric: The metric to optimize, or a list of them; defaults to ``TuneConfig(metric=...)``.
        mode: "max" or "min" (a list, one per metric); defaults to ``TuneConfig(mode=...)``.
        slos: :class:`~ray_graded_penalty.slo.SLO` bounds on reported metrics.
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
        >>> from ray_graded_penalty import SLO
        >>> searcher = GradedPenaltySearcher(
        ...     "optuna", trial_timeout_s=600, slos=[SLO("p99_latency_s", max=0.5)])
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
        metric: MetricArg = None,
        mode: MetricArg = None,
        slos: Optional[Iterable[SLO]] = None,
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
        self.slos = check_slos(slos)

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
        metric, mode = metric or self.inner.metric, mode or self.inner.mode
        _check_objectives(metric, mode, self.inner, warm_start)
        super().__init__(metric=metric, mode=mode)

        self._keeper = rank_keeper_for(self.inner)
        self._ledger: Optional[Ledger] = None
        self._records: Dict[str, TrialRecord] = {}
        self._callback_attached = False
        self._warned_no_callback = False
        self._warm_start: List[PastTrial] = [] if warm_start is None else read_history(warm_start)
        self.callback = GradedPenaltyCallback(self, enforce_timeout=enforce_timeout)

    # ----- what a user reads -------------------------------------------------------------

    @property
    def outcomes(self) -> Dict[str, TrialOutcome]:
        """What the inner searcher was told, per finished trial id (a copy)."""
        return dict(self._ledger.outcomes) if self._ledger else {}

    @property
    def best(self) -> Optional[TrialOutcome]:
        """The best success within the SLOs (with several objectives: the best in the first
        one); without one, the least SLO miss; while everything fails, the least-bad failure."""
        return self._ledger.best if self._ledger else None

    @property
    def pareto_front(self) -> List[TrialOutcome]:
        """The successes within the SLOs that no other one dominates in every objective."""
        return self._ledger.pareto_front() if self._ledger else []

    # ----- Ray's Searcher interface ------------------------------------------------------

    def set_search_properties(
        self, metric: Optional[str], mode: Optional[str], config: Dict, **spec: Any
    ) -> bool:
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        if self._metric is not None and self._mode is not None:
            Objectives.of(self._metric, self._mode)
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
        # Intermediate results without finite objectives are not passed on: OptunaSearch would
        # raise a KeyError for a missing one (ending the experiment), or report a NaN to Optuna.
        if self._metric and self._mode and isinstance(self._ready().objectives.read(result), tuple):
            self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: Optional[Dict] = None, error: bool = False
    ) -> None:
        self._flush_failures(except_id=trial_id)
        if self._was_told(trial_id):
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
        self._tell_result(trial_id, record, result or {})

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
        if self._was_told(trial_id):
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
        if record is None or self._was_told(trial_id):
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

    def _was_told(self, trial_id: str) -> bool:
        return self._ledger is not None and trial_id in self._ledger.outcomes

    def _known_record(self, trial_id: str) -> TrialRecord:
        record = self._records.get(trial_id)
        if record is None:
            raise ValueError(
                f"unknown trial id {trial_id!r}: it was not suggested by this searcher "
                f"(or was already told); record_failure is for trials from suggest()"
            )
        return record

    def _ready(self) -> Ledger:
        """The ledger, once metric and mode are known."""
        if self._ledger is None:
            if not self._metric or not self._mode:
                raise ValueError(
                    "GradedPenaltySearcher needs a metric and a mode: pass them to "
                    "tune.TuneConfig(metric=..., mode=...) or to the searcher "
                    f"(got metric={self._metric!r}, mode={self._mode!r})"
                )
            self._ledger = Ledger(Objectives.of(self._metric, self._mode), self.policy.least_magnitude)
        return self._ledger

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

    def _tell_result(self, trial_id: str, record: TrialRecord, result: Dict) -> None:
        """A trial ended without an error: a success, an SLO miss, or a failure after all."""
        objectives = self._ready().objectives
        values = objectives.read(result)
        if isinstance(values, str):
            reported = [m for m in objectives.metrics if m in result]
            if not reported:  # like a trial stopped before it reported: graded as a timeout
                record.error = f"stopped before reporting {', '.join(objectives.metrics)}; graded as a timeout"
            else:
                logger.warning("Trial %s: %s, which TPE cannot use; it is graded as a failure.",
                               trial_id, values)
                record.error = values
            self._tell_failure(trial_id)
            return
        verdict = judge(self.slos, result) if self.slos else None
        if verdict is not None and verdict.failure is not None:
            if any(v is None for v in verdict.values.values()):
                logger.warning("Trial %s: %s; it is graded as a failure.", trial_id, verdict.failure)
            record.error, record.error_class = verdict.failure, SLO_ERROR_CLASS
            record.elapsed_s = record.timeout_s or self.trial_timeout_s  # it served to the end
            self._tell_failure(trial_id, verdict, values)
        elif verdict is not None and not verdict.met:
            self._tell_miss(trial_id, record, values, verdict)
        else:
            self._tell_success(trial_id, record, result, values, verdict)

    def _tell_failure(self, trial_id: str, verdict: Optional[Verdict] = None, values: Optional[tuple] = None) -> None:
        ledger = self._ready()
        record = self._records.pop(trial_id)
        elapsed = record.elapsed(time.time(), starts_reported=self._callback_attached)
        grade = self.policy.grade(elapsed, record.timeout_s or self.trial_timeout_s, record.error,
                                  modifier=record.error_class)
        outcome, moved = ledger.failure(trial_id, record.config, grade, record.error, verdict, values)
        self._tell_below(trial_id, outcome, moved, failure_violation(grade.rank))
        logger.info(
            "Trial %s failed after %.1fs / %.0fs (%.1f%%): %s -> penalty %.1f%s. Best so far: %s",
            trial_id, grade.elapsed_s, grade.timeout_s, 100 * grade.completion,
            first_line(record.error, "(no error text)"), outcome.penalty,
            "" if outcome.told == outcome.penalty else f" (told {_fmt(outcome.told)}, below every success)",
            ledger.describe_best(str(self._metric)),
        )

    def _tell_miss(self, trial_id: str, record: TrialRecord, values: tuple, verdict: Verdict) -> None:
        ledger = self._ready()
        self._records.pop(trial_id)
        elapsed = record.elapsed(time.time(), starts_reported=self._callback_attached)
        outcome, moved = ledger.miss(trial_id, record.config, values, elapsed, verdict)
        self._tell_below(trial_id, outcome, moved, miss_rank(verdict.total_miss))
        missed = ", ".join(
            f"{slo.describe()} at {verdict.values[slo.metric]:.6g} ({verdict.misses[slo.metric]:.0%} over)"
            for slo in self.slos if slo.metric in verdict.misses
        )
        logger.info(
            "Trial %s served (%s) but missed SLO %s -> told %s, below every success within the SLOs.",
            trial_id, ledger.objectives.describe(values), missed, _fmt(outcome.told),
        )

    def _tell_below(self, trial_id: str, outcome: TrialOutcome, moved: bool, violation: float) -> None:
        """Tell a failure or an SLO miss, after moving what was told below the successes."""
        if moved:
            self._move_below(except_id=trial_id)
        self._keeper.before_tell(trial_id, violation, _attrs(outcome))
        self.inner.on_trial_complete(trial_id, result=self._ready().objectives.result(Ledger.as_list(outcome.told)))

    def _tell_success(self, trial_id: str, record: TrialRecord, result: Dict, values: tuple,
                      verdict: Optional[Verdict]) -> None:
        ledger = self._ready()
        self._records.pop(trial_id)
        elapsed = record.elapsed(time.time(), starts_reported=self._callback_attached)
        outcome, moved = ledger.success(trial_id, record.config, values, elapsed, verdict)
        new_best = ledger.new_best
        if moved:
            self._move_below()
        self.inner.on_trial_complete(trial_id, result=result)
        if new_best:
            logger.info("Trial %s succeeded: %s, the best so far.", trial_id, ledger.objectives.describe(values))

    def _move_below(self, except_id: Optional[str] = None) -> None:
        ledger = self._ready()
        values = ledger.below_successes()
        if not values:
            return
        if self._keeper.move_failures({tid: Ledger.as_list(v) for tid, v in values.items()}):
            ledger.update_told(values)
            moved = len(values) - (except_id in values)
            if moved:
                logger.info("Moved %d trials told earlier below every success.", moved)
        elif not self._keeper.whole_history:
            logger.info(
                "A success ranks below failures told earlier; %s cannot rewrite its history, "
                "so only failures told from now on are placed below it.",
                type(self.inner).__name__,
            )

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
        ledger = self._ready()
        if ledger.objectives.several:
            raise ValueError("a warm start takes one objective; this search has several")
        for past in trials:
            key = f"history-{len(ledger.outcomes)}"
            if past.failed:
                grade = self.policy.grade(past.elapsed_s, past.timeout_s or self.trial_timeout_s, past.error)
                outcome, moved = ledger.failure(key, past.config, grade, past.error)
                violation: Optional[float] = failure_violation(grade.rank)
            else:
                outcome, moved = ledger.success(key, past.config, (past.value,), None)
                violation = None
            if moved:
                self._move_below(except_id=key)
            self._keeper.add_history(key, past.config, outcome.told, violation)
        if trials:
            logger.info("Warm start: told %d earlier trials (%d failed).", len(trials),
                        sum(p.failed for p in trials))
        return len(trials)

    # ----- checkpointing -----------------------------------------------------------------

    def get_state(self) -> Dict[str, Any]:
        """This searcher's own state, without the inner searcher's (see :meth:`save`)."""
        return {
            "version": _STATE_VERSION,
            "metric": self._metric,
            "mode": self._mode,
            "trial_timeout_s": self.trial_timeout_s,
            "policy": self.policy,
            "slos": self.slos,
            "records": self._records,
            "ledger": self._ledger,
            "keeper": self._keeper.get_state(),
        }

    def set_state(self, state: Dict[str, Any]) -> None:
        version = state.get("version")
        if version == 1:
            state = state_from_v1(state)
        elif version != _STATE_VERSION:
            raise ValueError(f"unsupported GradedPenaltySearcher state version {version!r}")
        self._metric, self._mode = state["metric"], state["mode"]
        self.trial_timeout_s, self.policy = state["trial_timeout_s"], state["policy"]
        self.slos = state["slos"]
        self._records, self._ledger = state["records"], state["ledger"]
        self._keeper.set_state(state["keeper"])

    def save(self, checkpoint_path: str) -> None:
        """Save this searcher and its inner searcher together, atomically, to one file.

        Errored trials still waiting for their details are told first, so a run without the
        callback tells its last failure at Ray's final checkpoint.
        """
        self._flush_failures()
        payload = cloudpickle.dumps({"state": self.get_state(), "inner": inner_state(self.inner)})
        tmp_path = f"{checkpoint_path}.tmp-{os.getpid()}"
        with open(tmp_path, "wb") as f:
            f.write(payload)
        os.replace(tmp_path, checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        """Restore what :meth:`save` wrote, the inner searcher included."""
        with open(checkpoint_path, "rb") as f:
            payload = cloudpickle.loads(f.read())
        load_inner_state(self.inner, payload["inner"])
        self.set_state(payload["state"])


def _attrs(outcome: TrialOutcome) -> Dict[str, Any]:
    """What the inner searcher's history keeps of a trial told below the successes."""
    attrs: Dict[str, Any] = {"kind": outcome.kind}
    if outcome.failed:
        attrs.update(penalty=outcome.penalty, error_class=outcome.error_class or "crash",
                     elapsed_s=outcome.elapsed_s, completion=outcome.completion,
                     error=first_line(outcome.error)[:200])
    else:
        attrs.update(slo_miss=outcome.slo_miss, slo_misses=dict(outcome.slo_misses))
    return attrs


def _fmt(told: Any) -> str:
    return ", ".join(f"{v:.6g}" for v in told) if isinstance(told, tuple) else f"{told:.6g}"


def _check_objectives(metric: MetricArg, mode: MetricArg, inner: Searcher, warm_start: Any) -> None:
    """Refuse, at construction, objectives the inner searcher or a warm start cannot take."""
    several = isinstance(metric, (list, tuple)) or isinstance(mode, (list, tuple))
    if metric is not None and mode is not None:
        Objectives.of(metric, mode)
    elif several:
        raise ValueError(
            f"several objectives need both lists, metric=[...] and mode=[...]; got metric={metric!r}, mode={mode!r}"
        )
    elif mode is not None:
        check_mode(mode)
    if several:
        from ray.tune.search.hyperopt import HyperOptSearch

        if isinstance(compat.base_searcher(inner), HyperOptSearch):
            raise ValueError(
                f"the HyperOpt backend takes one objective (HyperOpt's TPE minimizes one loss); "
                f"got metric={metric!r}: use the Optuna backend for several objectives"
            )
        if warm_start is not None:
            raise ValueError("a warm start takes one objective; this search has several")

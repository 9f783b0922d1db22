"""The Ray Tune ``Searcher`` that tells its inner TPE successes and graded failures.

Like Ray's ``ConcurrencyLimiter`` it is a thin wrapper: it delegates Ray's ``Searcher``
interface to the inner searcher and changes only how a finished trial is told. A finished trial
goes one way through the private core, each module with one job:
:mod:`~ray_graded_penalty._core.trials` keeps what is known of unfinished trials and hands back
an ``Ending``; :mod:`~ray_graded_penalty._core.judge` decides what it teaches the model (its
kind, error class and grade); :mod:`~ray_graded_penalty._core.ledger` places it below every
success and tells the inner searcher through the backend (:mod:`~ray_graded_penalty.backends`).
:mod:`~ray_graded_penalty._core.state` saves it all. ``docs/design.md`` walks that path.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from ray.tune.result import DEFAULT_METRIC
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from ray_graded_penalty._core import ledger, state
from ray_graded_penalty._core.checks import check_failure, check_flag, check_retries, check_timeout, finite_number
from ray_graded_penalty._core.judge import Evidence, Rules, decide
from ray_graded_penalty._core.outcomes import ErrorClass, MetricArg, Objectives, PastTrial, TrialOutcome
from ray_graded_penalty._core.state import from_data
from ray_graded_penalty._core.trials import Ending, TrialBook, stop_iterations
from ray_graded_penalty.backends import inner_searcher, is_hyperopt, keeper_for
from ray_graded_penalty.callback import GradedPenaltyCallback
from ray_graded_penalty.compat import base_searcher, set_search_properties
from ray_graded_penalty.policy import PenaltyPolicy
from ray_graded_penalty.report import HistorySource, log_scaled, onto_space, read_history
from ray_graded_penalty.slo import SLO, check_slos

logger = logging.getLogger("ray_graded_penalty")

#: How many suggestions of finished configurations in a row finish the search.
MAX_KNOWN_IN_A_ROW = 100
#: How many None answers in a row from the inner searcher, with no trial outstanding, end the
#: search (Tune asks about once a second then: about 20 s).
MAX_IDLE_NONES = 20


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
        trial_timeout_s: The per-trial timeout in seconds a failure's progress is measured against.
        policy: The :class:`PenaltyPolicy`; the default policy when not given.
        metric, mode: The metric (or a list) and "max"/"min" (or a list); default: ``TuneConfig``'s.
        slos: :class:`~ray_graded_penalty.SLO` bounds on reported metrics.
        points_to_evaluate, seed: Configurations to try first, and the sampler's seed (built-in backends).
        enforce_timeout: If True (the default), the callback ends trials that run longer than
            ``trial_timeout_s`` (a :class:`~ray_graded_penalty.TrialTimeout`), graded as timeouts.
        warm_start: Earlier trials to start from, failures included (see :meth:`add_history`).
        runs_per_config: How many times one configuration may run. With 1 (the default) a
            suggestion of a configuration that has finished already is not run: the inner
            searcher is told that trial's outcome for it and asked for another; one of a
            configuration still running is told its outcome when it ends. More: a success (or
            an SLO miss) may run again, to average its noise, up to this many times; a
            failure never does. When the inner searcher suggests only configurations that
            finished :data:`MAX_KNOWN_IN_A_ROW` times in a row, the search is finished:
            one warning, and ``Searcher.FINISHED``; if some of them were still running, no
            trial now (None), and Ray asks again. None: every suggestion runs, as before 0.6.
        retries: How many times a configuration runs again after a failure of a ``transient``
            class before that failure is told as the configuration's (default 1; 0: never).
            The retry is the next trial suggested; the inner searcher is told only how the
            last try ended, and the report shows every try. Ray's ``FailureConfig(max_failures=n)``
            works beside it (Tune's own retries, of every failure, within one trial).
        transient: The error classes that are the infrastructure's failures, not the
            configuration's: by default ``("lost",)``, a trial whose node Ray lost under it
            (died or was preempted). Add a class of your policy's, e.g. ``"connection"`` when
            your trials talk to a shared service. Out of memory is the configuration's: never
            add it unless you mean it.

    Example:
        >>> from ray import tune
        >>> from ray_graded_penalty import SLO
        >>> searcher = GradedPenaltySearcher(
        ...     "optuna", trial_timeout_s=600, slos=[SLO("e2el_p99_s", max=0.5)])
        >>> tuner = tune.Tuner(  # doctest: +SKIP
        ...     trainable, param_space={"x": tune.uniform(0, 1)},
        ...     tune_config=tune.TuneConfig(metric="throughput", mode="max",
        ...                                 search_alg=searcher, num_samples=30),
        ...     run_config=tune.RunConfig(callbacks=[searcher.callback]))
    """

    def __init__(self, searcher: Union[str, Searcher] = "optuna", *, trial_timeout_s: Optional[float] = None,
                 policy: Optional[PenaltyPolicy] = None, metric: MetricArg = None, mode: MetricArg = None,
                 slos: Optional[Iterable[SLO]] = None, points_to_evaluate: Optional[List[Dict[str, Any]]] = None,
                 seed: Optional[int] = None, enforce_timeout: bool = True,
                 warm_start: Optional[HistorySource] = None, runs_per_config: Optional[int] = 1,
                 retries: int = 1, transient: Iterable[str] = ErrorClass.TRANSIENT) -> None:
        if trial_timeout_s is None:
            raise ValueError("trial_timeout_s is required: the per-trial timeout in seconds that a failed "
                             "trial's progress is measured against, e.g. trial_timeout_s=600")
        self.trial_timeout_s = check_timeout("trial_timeout_s", trial_timeout_s)
        if policy is not None and not isinstance(policy, PenaltyPolicy):
            raise TypeError(f"policy must be a PenaltyPolicy, got {type(policy).__name__}")
        self.policy = policy or PenaltyPolicy()
        self.slos = check_slos(slos)
        if runs_per_config is not None and (isinstance(runs_per_config, bool) or not isinstance(runs_per_config, int)
                                            or runs_per_config < 1):
            raise ValueError(f"runs_per_config must be a positive int (how many times one configuration may run; "
                             f"1: never twice) or None (every suggestion runs, as before 0.6), got {runs_per_config!r}")
        self.runs_per_config = runs_per_config
        self.retries, self.transient = check_retries(retries, transient, self._failure_classes())
        self.searcher = inner_searcher(searcher, seed=seed, points_to_evaluate=points_to_evaluate)
        metric = self.searcher.metric if metric is None else metric  # "" or []: refused, not replaced
        mode = self.searcher.mode if mode is None else mode
        several = Objectives.check_args(metric, mode)
        metric, mode = (list(m) if isinstance(m, tuple) else m for m in (metric, mode))  # Ray's Searcher takes lists
        if several and is_hyperopt(self.searcher):
            raise ValueError(f"the HyperOpt backend takes one objective (HyperOpt's TPE minimizes one loss); "
                             f"got metric={metric!r}: use the Optuna backend for several objectives")
        base = base_searcher(self.searcher)
        if several and not isinstance(base, OptunaSearch) and type(base).__module__.startswith("ray.tune.search"):
            raise ValueError(f"several objectives need Ray's OptunaSearch (the Optuna backend); "
                             f"{type(base).__name__} takes one metric: got metric={metric!r}")
        if several and warm_start is not None:
            raise ValueError("a warm start takes one objective; this search has several")
        super().__init__(metric=metric, mode=mode)  # type: ignore[arg-type]  # lists: several objectives
        self._book = TrialBook(self.trial_timeout_s)
        self._warned: Set[str] = set()  # what was warned of once (see judge.Rules.warned)
        self._keeper = keeper_for(self.searcher)
        if warm_start is not None and not self._keeper.takes_history:
            raise ValueError(self._keeper.no_history())
        self._idle_nones = 0  # the inner searcher's None answers in a row while no trial was outstanding
        self._space: Dict[str, Any] = {}  # Tune's search space (its choices: see report.onto_space)
        self._log_scale: Tuple[str, ...] = ()  # its parameters sampled on a log scale, for the report
        self._search_over = False  # no trial will be suggested again (see search_ended)
        self._finished = False  # it answered FINISHED and was not asked since (saved: Tune, restored, asks no more)
        self._ledger: Optional[ledger.Ledger] = None
        self._warm_start: List[PastTrial] = [] if warm_start is None else read_history(
            warm_start, metric if isinstance(metric, str) else None)
        enforce = check_flag("enforce_timeout", enforce_timeout)
        self.callback = GradedPenaltyCallback(self, self.trial_timeout_s if enforce else None)

    @property
    def inner(self) -> Searcher:
        """Deprecated: the inner searcher is :attr:`searcher`, as Ray's wrappers name it."""
        warnings.warn("GradedPenaltySearcher.inner is deprecated and goes in 0.7: use .searcher, the name "
                      "Ray's ConcurrencyLimiter and Repeater use", DeprecationWarning, stacklevel=2)
        return self.searcher

    @property
    def outcomes(self) -> Dict[str, TrialOutcome]:
        """What the inner searcher was told, per finished trial id: a deep copy, which later
        trials (a success that moves the failures told before it) do not change."""
        return copy.deepcopy(self._ledger.outcomes) if self._ledger else {}

    @property
    def retried(self) -> Dict[str, TrialOutcome]:
        """The transient failures that were not told because their configuration ran again, per
        trial id (a deep copy): each as it was graded; nothing was told for them."""
        return copy.deepcopy(self._ledger.retried) if self._ledger else {}

    @property
    def best(self) -> Optional[TrialOutcome]:
        """The best success within the SLOs (with several objectives: the best in the first);
        without one, the least SLO miss; while everything fails, the least-bad failure. A deep
        copy, as :attr:`outcomes`."""
        return copy.deepcopy(self._ledger.best) if self._ledger else None

    @property
    def pareto_front(self) -> List[TrialOutcome]:
        """The successes within the SLOs that no other one dominates in every objective (deep copies)."""
        return copy.deepcopy(self._ledger.pareto_front()) if self._ledger else []

    # ----- Ray's Searcher interface, delegated ------------------------------------------------

    def set_search_properties(self, metric: Optional[str], mode: Optional[str], config: Dict, **spec: Any) -> bool:
        self._metric, self._mode = self._metric or metric, self._mode or mode
        if self._metric is None and isinstance(self._mode, str):
            self._metric = DEFAULT_METRIC  # Ray's anonymous metric, as Ray's own searchers take it
        self._ready()  # a missing metric or mode is refused here, once, as Tune sets the search up
        if "num_samples" in spec:  # Tune's loop passes its experiment's spec; a script driving it does not
            self._book.in_tunes_loop = True
            self._book.stop_iterations = stop_iterations(spec.get("stop"))
        accepted = set_search_properties(self.searcher, self._metric, self._mode, config, **spec)
        self._keeper.check_modes(self._ready().objectives.modes)
        self._space = config
        self._log_scale = log_scaled(config) or self._log_scale  # a space given to the inner searcher: none
        if self._warm_start:
            warm, self._warm_start = onto_space(self._warm_start, config), []
            ledger.tell_history(warm, self._ready(), self._rules(), self._keeper)
        return accepted

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> Optional[Dict]:
        told = self._ready()
        self._search_over = self._finished = False  # asked: the search goes on (a new run's, after FINISHED)
        self._tell_waiting()
        retry = self._book.take_retry(trial_id, time.time())
        if retry is not None:  # a configuration whose last try failed transiently runs again first
            return copy.deepcopy(retry)  # the caller's to change (Tune copies it; a script may not)
        inner_id, waiting = trial_id, False
        for again in range(1, MAX_KNOWN_IN_A_ROW + 1):
            self._keeper.before_suggest()
            config: Any = self.searcher.suggest(inner_id)  # a dict, None, or Ray's FINISHED (a str)
            if config is None:
                return self._inner_gave_none()  # type: ignore[return-value]  # FINISHED, a str, after long idleness
            if not isinstance(config, dict):  # FINISHED: the inner searcher's own end (BayesOptSearch's patience)
                self._finish()
                return config
            self._idle_nones = 0
            finished, running = told.finished(config), self._book.running(config)
            # not finished in this search, but in the inner searcher's history (a study reopened)
            earlier = [] if finished or self.runs_per_config is None else self._keeper.finished_elsewhere(config)
            if self._may_run(finished, running, earlier):
                self._book.suggested(trial_id, config, time.time(), inner_id)
                return copy.deepcopy(config)  # the caller's to change (Tune copies it; a script may not)
            if finished:  # its outcome is known: told now
                ledger.tell_repeat(inner_id, finished[-1], told, self._keeper, self.searcher)
            elif earlier:  # known from elsewhere: told as it is held there
                ledger.tell_earlier(inner_id, config, earlier[-1], told, self._keeper, self.searcher)
            else:  # it is running: told its outcome when it is told
                self._book.follow(running[0], inner_id)
                waiting = True
            inner_id = f"{trial_id}/again-{again}"  # the inner searcher knows the last id as taken
        if waiting:  # not exhausted: it keeps to what runs now. Ray asks again (None) after the next event
            logger.debug("The inner searcher suggested only configurations that have run or are running, %d "
                         "times in a row; no trial now.", MAX_KNOWN_IN_A_ROW)
            return None
        logger.warning("The inner searcher suggested only configurations that have run already, %d times in a "
                       "row (runs_per_config=%d): the search is finished. The space may be exhausted, or hold "
                       "configurations this searcher does not suggest (CMA-ES, Nevergrad and Optuna's GP can "
                       "stop so in a small space; runs_per_config=None runs their repeats).",
                       MAX_KNOWN_IN_A_ROW, self.runs_per_config)
        return self._finish()  # type: ignore[return-value]  # Ray's own signal, a str

    def _inner_gave_none(self) -> Optional[str]:
        """None from the inner searcher, passed on; but with no trial outstanding nothing can
        change its answer, and Tune would ask for ever (BayesOptSearch skipping the one point
        it keeps proposing did): :data:`MAX_IDLE_NONES` such answers in a row end the search."""
        self._idle_nones = self._idle_nones + 1 if not self._book.records else 0
        if self._idle_nones < MAX_IDLE_NONES:
            return None
        logger.warning("The inner searcher %s gave no configuration %d times in a row while no trial was running: "
                       "the search is taken as finished.", type(self.searcher).__name__, MAX_IDLE_NONES)
        return self._finish()

    def _finish(self) -> str:
        """Ray's FINISHED, answered: Tune asks no more in this run, nor after a restore of it."""
        self._search_over = self._finished = True
        return Searcher.FINISHED

    def _may_run(self, finished: List[TrialOutcome], running: List[str],
                 earlier: Sequence[Tuple[Any, float]] = ()) -> bool:
        """Whether a configuration that ``finished`` (or, ``earlier``, finished before this search
        with these values and violations) and is ``running`` may run once more (see
        ``runs_per_config``: a failure never does)."""
        if self.runs_per_config is None:
            return True
        if any(o.failed for o in finished) or any(violation > 1 for _, violation in earlier):
            return False
        return len(finished) + len(earlier) + len(running) < self.runs_per_config

    def on_trial_result(self, trial_id: str, result: Dict) -> None:
        if trial_id not in self._book:  # told already, or never suggested (Tune's restart_errored)
            logger.debug("Trial %s reported, but it was told already or never suggested here; not told", trial_id)
            return
        objectives = self._ready().objectives if self._metric and self._mode else None
        finite = objectives is not None and isinstance(objectives.read(result), tuple)
        # Its objectives and SLO metrics, kept while finite: a scheduler that stops a paused
        # trial (HyperBand) completes it with no result, and it is told its last one.
        kept = {name: result[name] for name in (*objectives.metrics, *(s.metric for s in self.slos))
                if name in result} if objectives is not None and finite else None
        self._book.reported(trial_id, result, kept)
        # Results without finite objectives are not passed on: OptunaSearch would raise a
        # KeyError for a missing one (ending the experiment), or report a NaN to Optuna. Nor
        # are a retry's: the inner searcher knows it under the first try's id, whose steps it has
        # heard (Optuna warns of each step reported twice); its final result is told as usual.
        if self._book.is_retry(trial_id):
            return
        if finite:
            self.searcher.on_trial_result(self._book.inner_id(trial_id), result)

    def on_trial_complete(self, trial_id: str, result: Optional[Dict] = None, error: bool = False) -> None:
        self._tell_waiting(except_id=trial_id)
        if trial_id not in self._book:  # told already; or never suggested, so unknown inside too
            return
        self._tell(self._book.completed(trial_id, result, error, time.time()))

    def add_evaluated_point(self, parameters: Dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values: Optional[List[float]] = None) -> None:
        """Pass a point evaluated elsewhere to the inner searcher (Ray's ``Searcher`` API); a
        success counts for the placement: no failure is told above it, so its value must be finite."""
        if not (error or pruned):
            finite_number("value", value)
        try:
            self.searcher.add_evaluated_point(parameters, value, error=error, pruned=pruned,
                                           intermediate_values=intermediate_values)
        except NotImplementedError:  # Ray's HyperOptSearch, for one
            raise NotImplementedError(
                f"{type(base_searcher(self.searcher)).__name__} takes no point evaluated elsewhere "
                f"(add_evaluated_point); give earlier trials as warm_start= or to add_history() instead, "
                f"which every backend takes") from None
        if not (error or pruned):  # one objective, as Ray's API takes one value
            ledger.note_successes([(float(value),)], self._ready(), self._keeper)

    def on_pause(self, trial_id: str) -> None:  # only some searchers have it (BOHB, ConcurrencyLimiter)
        getattr(self.searcher, "on_pause", lambda _: None)(self._book.inner_id(trial_id))

    def on_unpause(self, trial_id: str) -> None:
        getattr(self.searcher, "on_unpause", lambda _: None)(self._book.inner_id(trial_id))

    # ----- what the callback reports (TrialEvents), and failures told without Ray's loop ------

    def callback_attached(self) -> None:
        self._book.callback_attached = True
        # A run starts. Tune restoring a run in which this searcher had answered FINISHED asks no
        # more (it saves that the search finished); in a new run it asks at once (see suggest).
        self._search_over, self._idle_nones = self._finished, 0

    def stops_at_iteration(self, iterations: int) -> None:
        self._book.stop_iterations = iterations

    def trial_started(self, trial_id: str) -> None:
        self._book.started(trial_id, time.time())

    def trial_retried(self, trial_id: str) -> None:
        self._book.retried(trial_id)

    def trial_resumed(self, trial_id: str) -> None:
        self._book.resumed(trial_id, time.time())

    def trial_timed_out(self, trial_id: str, stage: Optional[str] = None) -> None:
        self._book.timed_out(trial_id, stage)

    def trial_errored(self, trial_id: str, evidence: Union[Evidence, str, None] = None,
                      error_class: Optional[str] = None, error: Optional[str] = None) -> None:
        if error is not None:  # 0.5's keyword, trial_errored(trial_id, error=...)
            if evidence is not None:
                raise TypeError("trial_errored takes evidence or 0.5's error=, not both")
            evidence = error
        if evidence is None:
            raise TypeError("trial_errored needs the evidence of what ended the trial (an Evidence)")
        if isinstance(evidence, str):  # 0.5's (trial_id, error, error_class), until 0.7
            warnings.warn("trial_errored(trial_id, error, error_class) is 0.5's form and goes in 0.7: pass an "
                          "Evidence(error, error_class) (from ray_graded_penalty.callback import Evidence), or "
                          "tell a failure yourself with record_failure",
                          DeprecationWarning, stacklevel=2)
            evidence = Evidence(evidence, error_class)
        if not self._was_told(trial_id):
            self._tell(self._book.errored(trial_id, evidence.text or "", time.time(), evidence.error_class,
                                          evidence.stage, evidence.types))

    def trial_stopped(self, trial_id: str) -> None:
        if trial_id not in self._book:  # told already (a restored run's ended trials are reported too)
            return
        ending = self._book.stopped(trial_id, time.time())
        if ending is None:
            logger.info("Tune ended trial %s itself, with no result or error for its searcher (its time budget or "
                        "fail_fast stopped the run, or its actor could not start): not told, as Ray tells its "
                        "searchers nothing of it.", trial_id)
        self._tell(ending)
        if self._search_over:  # a retry it ran goes back in the queue, and no trial will come for it
            self.search_ended()

    def search_ended(self) -> None:
        self._search_over = True
        for ending in self._book.unrun_retries(time.time()):  # no trial comes to retry them: told as they ended
            self._tell(ending)

    def experiment_ended(self) -> None:
        """The run is over (the callback calls it; call it yourself when you drive the searcher
        without Tune's loop): a failure still waiting for its details, and a transient failure
        whose retry no trial came to run, are told as they ended."""
        self._tell_waiting()
        self.search_ended()

    def already_told(self, trial_id: str) -> bool:
        return self._was_told(trial_id)

    def record_failure(self, trial_id: str, elapsed_s: float, error: str = "", timeout_s: Optional[float] = None,
                       error_class: Optional[str] = None) -> None:
        """Tell the failure of a suggested trial, with its details, if it was not told yet.

        For replays, simulations and benchmarks that drive the searcher directly. It may come
        before ``on_trial_complete(trial_id, error=True)`` or right after it: the trial is told
        once, with these details. Not later: the next ``suggest``, or another trial's
        ``on_trial_complete``, tells a failure still waiting for its details without them, and
        a ``record_failure`` for a trial told already is not told (a warning says so).
        ``error_class``, one of the policy's :attr:`~PenaltyPolicy.error_classes` (or "timeout"),
        says what killed it; without it, ``error``'s words do.

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
        elapsed, error, timeout, error_class = check_failure(elapsed_s, error, timeout_s, error_class,
                                                             self._failure_classes())
        if not self._was_told(trial_id):
            self._tell(self._book.failure_given(trial_id, elapsed, error, timeout, time.time(), error_class))
        elif "late record_failure" not in self._warned:
            self._warned.add("late record_failure")
            logger.warning("record_failure(%r) came after the trial was told: these details are not told. Call it "
                           "before on_trial_complete(trial_id, error=True), or right after it, before the next "
                           "suggest or another trial's completion (which tell a failure waiting for its details "
                           "without them)", trial_id)

    # ----- telling ---------------------------------------------------------------------------

    def _ready(self) -> ledger.Ledger:
        """The ledger, once metric and mode are known."""
        if self._ledger is None:
            if not self._metric or not self._mode:
                raise ValueError("GradedPenaltySearcher needs a mode (and a metric, or Ray's anonymous "
                                 "one): pass them to tune.TuneConfig(metric=..., mode=...) or to the "
                                 f"searcher (got metric={self._metric!r}, mode={self._mode!r})")
            self._ledger = ledger.Ledger(Objectives.of(self._metric, self._mode), self.policy.least_magnitude,
                                         close=self._keeper.failures_close_below)
        return self._ledger

    def _failure_classes(self) -> List[str]:
        """The classes a failure can have: the policy's, and the package's own endings."""
        return list(dict.fromkeys((*self.policy.error_classes, *ErrorClass.OWN)))

    def _rules(self) -> Rules:
        return Rules(self._ready().objectives, self.policy, self.slos, self.trial_timeout_s, self._warned,
                     self.retries, self.transient)

    def _was_told(self, trial_id: str) -> bool:
        """Whether the trial is settled: told, or a transient failure whose configuration runs again."""
        return self._ledger is not None and (trial_id in self._ledger.outcomes or trial_id in self._ledger.retried)

    def _tell(self, ending: Optional[Ending]) -> None:
        if ending is None:  # still waiting for the rest of its details
            return
        if self._search_over:  # no trial will come to run it again: told as it ended
            ending = ending._replace(final=True)
        told, decision = self._ready(), decide(ending, self._rules())
        if decision.retry:  # the infrastructure's failure: its configuration runs again, nothing is told
            ledger.hold_for_retry(decision, told)
            self._book.retry(ending)
            return
        outcome = ledger.tell(decision, told, self._keeper, self.searcher, ending.inner_id)
        for inner_id in ending.followers:  # suggestions of the same configuration, made while it ran
            ledger.tell_repeat(inner_id, outcome, told, self._keeper, self.searcher)

    def _tell_waiting(self, except_id: Optional[str] = None) -> None:
        for ending in self._book.waiting(time.time(), except_id):
            self._tell(ending)

    def add_history(self, source: HistorySource) -> int:
        """Tell the inner model earlier trials, failures included; returns how many.

        ``source`` is an experiment directory, a CSV or a DataFrame with the columns described
        in :func:`~ray_graded_penalty.report.read_history` (a
        :func:`~ray_graded_penalty.report.failure_report` has them). Needs the search space:
        call it once Tune set it, or pass ``warm_start=``.
        """
        told = self._ready()
        metric = told.objectives.metrics[0] if len(told.objectives.metrics) == 1 else None
        history = onto_space(read_history(source, metric), self._space)
        return ledger.tell_history(history, told, self._rules(), self._keeper)

    # ----- checkpointing ---------------------------------------------------------------------

    def get_state(self) -> Dict[str, Any]:
        """This searcher's own state as plain data, as Tune saves it at each checkpoint (and a
        ``ConcurrencyLimiter``'s). It changes nothing: an errored trial still waiting for its
        details is saved as waiting, and told at the next event after a restore."""
        return state.to_data(state.SavedState(
            self._metric, self._mode, self.trial_timeout_s, self.policy, self.slos, self._book.records,
            self._ledger, self._keeper.get_state(), tuple(self._warm_start), self.runs_per_config,
            self.retries, self.transient, self._finished, self._log_scale))

    def set_state(self, state: Dict[str, Any]) -> None:  # Ray's name for the argument, though it hides the module
        """Load what :meth:`get_state` returned, in this release or an earlier one. Its settings
        replace this searcher's (a warning names those that differ), the watchdog's timeout too."""
        saved = from_data(state)
        self._warn_replaced(saved)
        self._metric, self._mode = saved.metric, saved.mode  # type: ignore[assignment]  # lists: several
        self.trial_timeout_s, self.policy, self.slos = saved.trial_timeout_s, saved.policy, saved.slos
        self._book.timeout_s, self._book.records = self.trial_timeout_s, saved.records
        self._ledger, self._warm_start = saved.ledger, list(saved.warm_start)
        self.runs_per_config, self.retries, self.transient = saved.runs_per_config, saved.retries, saved.transient
        self._search_over = self._finished = saved.finished
        self._log_scale = saved.log_scale or self._log_scale
        self._idle_nones = 0
        self._keeper.set_state(saved.keeper)
        if self.callback.timeout is not None:
            self.callback.timeout.timeout_s = self.trial_timeout_s

    def _warn_replaced(self, saved: state.SavedState) -> None:
        ours = {"trial_timeout_s": self.trial_timeout_s, "policy": self.policy, "slos": self.slos,
                "runs_per_config": self.runs_per_config, "retries": self.retries, "transient": self.transient}
        if self._metric is not None:
            ours.update(metric=self._metric, mode=self._mode)
        replaced = [f"{name}={getattr(saved, name)!r} (was {value!r})" for name, value in ours.items()
                    if value != getattr(saved, name)]
        if replaced:
            logger.warning("The restored state's settings replace this searcher's: %s.", "; ".join(replaced))

    def save(self, checkpoint_path: str) -> None:
        """Save this searcher and its inner searcher together, atomically, to one file."""
        state.save(checkpoint_path, self.get_state(), self.searcher)

    def restore(self, checkpoint_path: str) -> None:
        """Restore what :meth:`save` wrote (by this release or an earlier one), the inner searcher included."""
        self.set_state(state.load(checkpoint_path, self.searcher))

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """Restore it and its inner searcher from what Tune saved in an experiment directory."""
        if not state.restore_from_dir(self, checkpoint_dir):
            super().restore_from_dir(checkpoint_dir)  # 0.4 and earlier: one searcher-state file

    # Tune pickles the whole searcher (an experiment's tuner.pkl): as the inner searcher, plain
    # data and the callback, so that the next release reads it (see state.pickled).
    def __reduce__(self) -> Any:
        return (GradedPenaltySearcher.__new__, (GradedPenaltySearcher,), state.pickled(self))

    def __setstate__(self, pickled: Dict[str, Any]) -> None:
        state.unpickle(self, pickled)

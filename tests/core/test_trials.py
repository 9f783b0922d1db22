"""The trial bookkeeping: every event of the module's table, and when a trial can be told."""

import pytest

from ray_graded_penalty._core.trials import TrialBook, timeout_error_text


def book_with(trial_id="t", now=100.0, callback=True):
    book = TrialBook(timeout_s=60.0)
    book.callback_attached = callback
    book.suggested(trial_id, {"x": 1}, now)
    return book


def test_an_errored_trial_waits_for_both_rays_report_and_the_callbacks_text_in_either_order():
    book = book_with()
    book.started("t", 110.0)
    assert book.completed("t", None, error=True, now=130.0) is None  # Ray first: waits
    ending = book.errored("t", "CUDA out of memory", now=131.0)
    assert ending.failed and ending.error == "CUDA out of memory" and ending.elapsed_s == 20.0
    assert "t" not in book

    book = book_with()
    book.started("t", 110.0)
    assert book.errored("t", "boom", now=125.0) is None  # the callback first: waits
    assert book.completed("t", None, error=True, now=126.0).elapsed_s == 15.0


def test_a_success_is_told_at_once_with_its_result():
    book = book_with()
    book.started("t", 110.0)
    ending = book.completed("t", {"score": 3.0, "time_total_s": 9.0}, error=False, now=150.0)
    assert not ending.failed and ending.result["score"] == 3.0 and ending.elapsed_s == 40.0


def test_the_watchdogs_verdict_stays_whatever_error_follows():
    book = book_with()
    book.started("t", 110.0)
    book.timed_out("t")
    book.completed("t", None, error=True, now=200.0)
    ending = book.errored("t", "RayActorError: the actor died", now=201.0)
    assert ending.elapsed_s == 60.0 and ending.error == timeout_error_text(60.0)


def test_a_retry_starts_over():
    book = book_with()
    book.started("t", 110.0)
    book.timed_out("t")
    book.started("t", 300.0)  # FailureConfig retried it: the last attempt is what counts
    book.completed("t", None, error=True, now=305.0)
    ending = book.errored("t", "boom", now=305.0)
    assert ending.elapsed_s == 5.0 and ending.error == "boom"


def test_progress_without_the_callback_comes_from_the_trial_or_the_suggestion():
    book = book_with(callback=False)
    book.reported("t", {"time_total_s": 7.0})
    assert book.completed("t", None, error=True, now=150.0) is None
    [ending] = book.waiting(now=150.0)
    assert ending.elapsed_s == 7.0 and ending.error is None
    book = book_with(callback=False)
    book.completed("t", None, error=True, now=150.0)
    assert book.waiting(now=150.0, except_id="t") == []
    assert book.waiting(now=160.0)[0].elapsed_s == 50.0  # since the suggestion, to its end


def test_a_resumed_trial_keeps_how_far_it_got_and_the_seconds_it_ran():
    book = book_with("t")
    book.started("t", 110.0)
    book.reported("t", {"progress": 0.4, "time_total_s": 30.0})
    book.resumed("t", now=500.0)  # a scheduler had paused it
    assert book.records["t"].progress == 0.4 and book.records["t"].elapsed(505.0, starts_reported=True) == 35.0
    book.started("t", 600.0)  # a retry after a failure starts over
    assert book.records["t"].progress is None


def test_a_trial_that_never_started_made_no_progress():
    book = book_with()
    book.completed("t", None, error=True, now=150.0)
    assert book.errored("t", "setup failed", now=150.0).elapsed_s == 0.0


def test_record_failure_gives_the_details_and_an_unknown_trial_is_named():
    book = book_with()
    ending = book.failure_given("t", 42.0, "deploy failed", 90.0, now=150.0)
    assert (ending.elapsed_s, ending.timeout_s, ending.error) == (42.0, 90.0, "deploy failed")
    with pytest.raises(ValueError, match="unknown trial id 'nope'"):
        book.failure_given("nope", 1.0, "", None, now=150.0)


def test_how_far_a_trial_got_is_the_furthest_it_reported(caplog):
    book = book_with()
    book.stop_iterations = 10
    book.started("t", 110.0)
    book.reported("t", {"training_iteration": 2})
    assert book.records["t"].progress == 0.2  # 2 of the 10 iterations Tune stops it at
    book.reported("t", {"training_iteration": 3, "progress": 0.5})  # its own word goes further
    book.reported("t", {"training_iteration": 4, "progress": 0.1})  # the furthest stays
    assert book.records["t"].progress == 0.5
    book.started("t", 140.0)  # a retry starts over
    assert book.records["t"].progress is None
    book.reported("t", {"training_iteration": 1})
    book.completed("t", None, error=True, now=150.0)
    assert book.errored("t", "boom", now=150.0).progress == 0.1


def test_without_a_known_stop_iterations_say_nothing_and_a_bad_progress_is_named_once(caplog):
    book = book_with()
    book.reported("t", {"training_iteration": 5})
    assert book.records["t"].progress is None  # 5 of how many: unknown
    with caplog.at_level("WARNING", logger="ray_graded_penalty"):
        for bad in (1.5, "half", float("nan"), True):
            book.reported("t", {"progress": bad})
    assert book.records["t"].progress is None
    assert [r.getMessage() for r in caplog.records] == [
        "Trial t reported progress=1.5, not a number in [0, 1]: not read; its time grades how far it got."]


def test_the_book_finds_a_running_configuration_and_keeps_who_waits_for_it():
    book = TrialBook(600.0)
    book.suggested("a", {"outer": {"lr": 0.1}}, now=0.0)
    book.suggested("b", {"outer": {"lr": 0.2}}, now=0.0, inner_id="b/again-1")
    assert book.running({"outer/lr": 0.1}) == ["a"]  # nested or flattened as Tune flattens it
    assert book.inner_id("b") == "b/again-1" and book.inner_id("a") == "a"
    book.follow("a", "c")
    ending = book.completed("a", {"score": 1.0}, False, now=5.0)
    assert ending.followers == ("c",) and ending.inner_id is None
    assert book.running({"outer/lr": 0.1}) == []


def test_the_watchdog_keeps_the_stage_a_trial_published():
    book = TrialBook(60.0)
    book.suggested("a", {"x": 1}, now=0.0)
    book.timed_out("a", stage="start")
    book.completed("a", None, True, now=61.0)
    ending = book.errored("a", "RayActorError: the actor died", now=61.0, stage="worker")
    assert (ending.error_class, ending.stage) == ("timeout", "start")  # the watchdog's, not Ray's words


def test_a_transient_failure_waits_for_its_retry_which_keeps_the_inner_id_and_followers():
    book = TrialBook(600.0)
    book.suggested("a", {"x": 1}, now=0.0)
    book.follow("a", "f1")
    lost = book.failure_given("a", 30.0, "node died", None, now=30.0, error_class="lost")
    assert lost.tries == 0 and not lost.final
    book.retry(lost)
    assert book.running({"x": 1}) == ["a/retry"] and "a" not in book  # counts as running; Tune's id is gone
    assert not book.is_retry("a") and not book.is_retry("a/retry")  # it waits; it does not run yet
    assert book.take_retry("b", now=40.0) == {"x": 1} and book.take_retry("c", now=40.0) is None
    assert book.is_retry("b")
    assert book.running({"x": 1}) == ["b"]  # the retry runs it now, once
    again = book.completed("b", {"score": 2.0}, False, now=50.0)
    assert (again.inner_id, again.followers, again.tries) == ("a", ("f1",), 1)
    assert book.records == {}  # the first try's record went with its retry


def test_a_trial_tune_stopped_is_dropped_and_a_retrys_first_try_waits_again():
    book = TrialBook(600.0)
    book.suggested("a", {"x": 1}, now=0.0)
    book.suggested("s", {"x": 2}, now=0.0)
    assert book.stopped("s", now=10.0) is None and book.stopped("never-suggested", now=10.0) is None
    assert "s" not in book and book.running({"x": 2}) == []
    book.retry(book.failure_given("a", 30.0, "node died", None, now=30.0, error_class="lost"))
    book.take_retry("b", now=40.0)
    book.follow("b", "f1")  # suggested again while its retry ran
    assert book.stopped("b", now=60.0) is None  # Tune's time budget ended the run
    assert "b" not in book and book.running({"x": 1}) == ["a/retry"]
    [ending] = book.unrun_retries(now=99.0)
    assert (ending.trial_id, ending.elapsed_s, ending.error_class, ending.followers, ending.tries) == (
        "a", 30.0, "lost", ("f1",), 0)
    assert book.records == {}


def test_a_stopped_trial_that_errored_and_waits_for_its_details_is_told_with_what_is_known():
    book = book_with("t")
    book.started("t", 110.0)
    assert book.completed("t", None, True, now=130.0) is None  # Ray said it errored; no details yet
    ending = book.stopped("t", now=500.0)  # a restored run: Tune had ended it
    assert ending is not None and ending.failed and ending.elapsed_s == 20.0 and "t" not in book


def test_a_trial_the_watchdog_ended_is_told_as_a_timeout_when_tune_stops_the_run_before_its_error():
    book = book_with("t")
    book.started("t", 110.0)
    book.timed_out("t")  # its actor is ended; Tune's time budget stops the run before the error comes
    ending = book.stopped("t", now=175.0)
    assert ending is not None and ending.failed and ending.error_class == "timeout" and ending.elapsed_s == 60.0
    assert "t" not in book


def test_a_retry_never_taken_ends_as_its_failure_did():
    book = TrialBook(600.0)
    book.suggested("a", {"x": 1}, now=0.0)
    book.retry(book.failure_given("a", 30.0, "node died", None, now=30.0, error_class="lost"))
    [ending] = book.unrun_retries(now=99.0)
    assert (ending.trial_id, ending.elapsed_s, ending.error_class, ending.final) == ("a", 30.0, "lost", True)
    assert book.records == {}



def test_a_time_total_s_that_is_no_finite_number_is_not_read():
    """A result's ``time_total_s`` that is not a finite number (a trainable's own key) raised when
    the trial was graded, after its record was taken from the book: the trial was lost."""
    book = book_with(callback=False)
    book.reported("t", {"time_total_s": 7.0})
    for bad in ("soon", None, float("inf"), float("nan")):
        book.reported("t", {"time_total_s": bad})
    book.completed("t", None, error=True, now=150.0)
    assert book.waiting(now=150.0)[0].elapsed_s == 7.0

"""Searchers saved by earlier releases (0.2.0, 0.3.0 and 0.4.0, files in tests/data) restore:
what they had told is kept, the trials that were running are told once, and new failures still
land below every success; so does a 0.4.0 searcher pickled whole, as Tune's ``tuner.pkl`` holds
it. The files were written by ``tests/data/make_saved_states.py`` run on those releases; each
carries the inner Optuna study of the Optuna major it was made with, so a file restores where
that major is installed. What this release writes is plain data: no class of the package in
the saved file, and in a pickled searcher only the names a next release keeps."""

import glob
import io
import json
import os
import pickle
import pickletools

import optuna
import pytest
from ray import cloudpickle, tune

from ray_graded_penalty import SLO, GradedPenaltySearcher

from conftest import optuna_study

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
MAJOR = optuna.__version__.split(".")[0]
CASES = sorted(glob.glob(os.path.join(DATA, f"saved_*_optuna{MAJOR}.json")))
PICKLED = sorted(glob.glob(os.path.join(DATA, f"pickled_*_optuna{MAJOR}.pkl")))


def test_a_saved_state_exists_for_this_optuna():
    assert CASES, f"no saved state made with Optuna {MAJOR} in {DATA}"


def check_continues(searcher, expected):
    """What the restored ``searcher`` had told, and that it goes on as the saved one would."""
    told = {t: {"told": o.told, "kind": o.kind, "penalty": o.penalty} for t, o in searcher.outcomes.items()}
    assert told == expected["outcomes"]
    assert searcher.best.trial_id == expected["best"]
    for trial_id in expected["running"]:  # running across the save: told once, when they end
        searcher.on_trial_complete(trial_id, result={"score": 1.0, "p99_s": 0.1})
        searcher.on_trial_complete(trial_id, result={"score": 1.0, "p99_s": 0.1})
    assert set(searcher.outcomes) == set(expected["outcomes"]) | set(expected["running"])
    assert searcher.suggest("late") is not None
    searcher.record_failure("late", elapsed_s=10.0, error="deploy failed: bad flag")
    outcomes = searcher.outcomes
    successes = [o.told for o in outcomes.values() if o.kind == "success"]
    assert outcomes["late"].told < min(successes)
    complete = [t for t in optuna_study(searcher).trials if t.state.name == "COMPLETE"]
    assert len(complete) == len(outcomes)  # each told to the study exactly once


def expected_of(path):
    with open(os.path.join(DATA, os.path.basename(path).replace("pickled_", "saved_")[:-4] + ".json")) as f:
        return json.load(f)


@pytest.mark.parametrize("case", CASES, ids=[os.path.basename(c)[6:-5] for c in CASES])
def test_a_state_saved_by_an_earlier_release_restores(case):
    expected = expected_of(case[:-5] + ".pkl")
    slos = [SLO("p99_s", max=0.5)] if expected["slos"] else None
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0, metric="score", mode="max", slos=slos)
    searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
    searcher.restore(case[:-5] + ".pkl")
    check_continues(searcher, expected)


@pytest.mark.parametrize("case", PICKLED, ids=[os.path.basename(c)[8:-4] for c in PICKLED])
def test_a_searcher_an_earlier_release_pickled_whole_unpickles_and_continues(case):
    with open(case, "rb") as f:
        searcher = cloudpickle.load(f)
    assert isinstance(searcher, GradedPenaltySearcher) and searcher.callback.timeout.timeout_s == 600
    check_continues(searcher, expected_of(case))


class _NoPackageClasses(pickle.Unpickler):
    def find_class(self, module, name):
        assert not module.startswith("ray_graded_penalty"), (module, name)
        return super().find_class(module, name)


def made_now(tmp_path):
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0, metric="score", mode="max",
                                     slos=[SLO("p99_s", max=0.5)])
    searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
    for trial_id in "abcd":
        searcher.suggest(trial_id)
    searcher.on_trial_complete("a", result={"score": 5.0, "p99_s": 0.1})
    searcher.record_failure("b", elapsed_s=300, error="CUDA out of memory")
    searcher.on_trial_complete("c", result={"score": 7.0, "p99_s": 0.6})
    return searcher


def test_what_this_release_saves_is_plain_data(tmp_path):
    searcher = made_now(tmp_path)
    path = str(tmp_path / "state.pkl")
    searcher.save(path)
    with open(path, "rb") as f:
        payload = _NoPackageClasses(io.BytesIO(f.read())).load()  # no class of the package in it
    assert payload["state"]["version"] == 4 and set(payload["state"]["ledger"]["outcomes"]) == {"a", "b", "c"}
    assert set(payload["state"]["records"]) == {"d"} and set(payload["state"]["records"]["d"]["config"]) == {"x"}
    restored = GradedPenaltySearcher("optuna", trial_timeout_s=600, metric="score", mode="max")
    restored.set_search_properties(None, None, {"x": tune.uniform(0, 1)})
    restored.restore(path)
    assert restored.outcomes == searcher.outcomes and restored.slos == searcher.slos


#: The package's names a pickled searcher may refer to: the searcher and its callback, which
#: pickle as their constructors' arguments, and what the Optuna backend's sampler holds.
STABLE = {"GradedPenaltySearcher", "GradedPenaltyCallback", "TrialTimeout", "TrialReaper", "GoodGroupSize",
          "stored_constraints"}


def package_globals(data):
    names, strings = set(), []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2 and strings[-2].startswith("ray_graded_penalty"):
            names.add(strings[-1])
        elif opcode.name == "GLOBAL" and arg.startswith("ray_graded_penalty"):
            names.add(arg.split(" ")[1])
    return names


def test_a_searcher_this_release_pickles_whole_names_only_what_the_next_keeps(tmp_path):
    searcher = made_now(tmp_path)
    data = cloudpickle.dumps(searcher)
    assert "GradedPenaltySearcher" in package_globals(data)  # the scan sees the package's names
    assert package_globals(data) <= STABLE, package_globals(data) - STABLE
    restored = cloudpickle.loads(data)
    assert restored.outcomes == searcher.outcomes and restored.callback.timeout.timeout_s == 600
    restored.on_trial_complete("d", result={"score": 6.0, "p99_s": 0.1})  # a trial running across it
    assert set(restored.outcomes) == {"a", "b", "c", "d"}


def test_0_5_s_module_names_import_with_a_deprecation_warning_until_0_7():
    import importlib
    import sys
    import warnings

    from ray_graded_penalty import GoodGroupSize
    from ray_graded_penalty._core.judge import first_match
    from ray_graded_penalty._core.legacy import OLD_MODULES
    from ray_graded_penalty._core.trials import TrialBook

    for name in ("ray_graded_penalty.trials", "ray_graded_penalty.good_group", "ray_graded_penalty.error_classes"):
        sys.modules.pop(name, None)
        with pytest.warns(DeprecationWarning, match=f"{name} is private since ray-graded-penalty 0.6"):
            importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # imported already: no second warning
        from ray_graded_penalty.error_classes import DEFAULT_MODIFIERS, classify, words
        from ray_graded_penalty.good_group import GoodGroupSize as old_size
        from ray_graded_penalty.trials import TrialBook as old_book
    assert (old_book, old_size) == (TrialBook, GoodGroupSize)
    assert classify is first_match and classify("CUDA out of memory", DEFAULT_MODIFIERS).name == "oom"  # 0.5's
    assert words("OOMKilled") == ("oom", "killed")
    for name, targets in OLD_MODULES.items():  # every old name resolves, and every target exists
        assert importlib.import_module(name).__name__ == name
        assert all(importlib.import_module(t) for t in targets)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        importlib.import_module("ray_graded_penalty.trials").nothing_here


def test_every_public_name_of_0_5_still_answers_until_0_7(tmp_path):
    """Each of the 230 names 0.5.0's modules defined is still there, where it moved, or answers as
    it did in 0.5 with a ``DeprecationWarning`` saying what to use (:data:`legacy.GONE`). The list
    (``tests/data/public_names_0.5.0.json``) was read from the 0.5.0 release's source (commit
    a32351b): each module outside a private folder, its top-level functions, classes and
    assignments whose names do not begin with ``_``."""
    import importlib
    import warnings

    from ray_graded_penalty._core.legacy import GONE

    with open(os.path.join(DATA, "public_names_0.5.0.json")) as f:
        names = json.load(f)
    assert sum(map(len, names.values())) == 230
    missing = []
    for module, defined in names.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an old module's name warns on import (the test above)
            found = importlib.import_module(module)
        for name in defined:
            if (module, name) in GONE:
                with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} is gone since .* goes in 0\.7: use "):
                    getattr(found, name)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if not hasattr(found, name):
                        missing.append(f"{module}.{name}")
    assert missing == []
    assert set(GONE) <= {(m, n) for m, defined in names.items() for n in defined}  # nothing but 0.5's


def test_the_gone_names_answer_as_0_5_did(tmp_path):
    import warnings

    from ray_graded_penalty import report
    from ray_graded_penalty.backends import optuna as optuna_backend
    from ray_graded_penalty.serving import failure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert report.NO_TEXT == "other"
        assert report.load_outcomes(str(tmp_path)) == {}  # no searcher ran there
        gammas = [optuna_backend.default_gamma(n) for n in (0, 1, 10, 11, 100, 250, 251, 1000)]
        assert gammas == [0, 1, 1, 2, 10, 25, 25, 25]
        assert failure.memory_line(["ok", "  ggml: failed to allocate buffer\n", "CUDA out of memory"]) == (
            "ggml: failed to allocate buffer")
        assert failure.CLASSES["load"] == "crash" and failure.WHEN["ready"] == "before it was ready"
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        report.nothing_here


def test_what_the_load_outcomes_warning_says_to_write_answers_as_it_did(tmp_path):
    from ray_graded_penalty import report

    with pytest.warns(DeprecationWarning) as caught:
        report.load_outcomes(str(tmp_path))
    written = str(caught[0].message).split("use ", 1)[1].split(" instead")[0].replace("experiment_dir", "str(tmp_path)")
    assert eval(written, {"report": report, "tmp_path": tmp_path}) == {}  # no searcher ran there

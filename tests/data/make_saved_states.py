"""Write the saved states that tests/core/test_legacy.py restores: run with an older release first
on the path, from a checkout of 0.2.0 (988a4cf^), 0.3.0 (0d3f211), 0.4.0 (19b6280) or 0.5.0
(a32351b), under the Optuna whose files are missing (``_optuna4`` files: Ray 2.44.1 and Optuna
4.2.1, made 2026-12-07; 19b6280 wrote the ``_optuna5`` files of 0.4.0 again byte for byte):

    PYTHONPATH=/path/to/that/checkout python tests/data/make_saved_states.py tests/data

It writes ``saved_<version>_optuna<major>.pkl`` (what ``searcher.save`` wrote), a ``.json``
beside it with what that release's searcher had told, for the test to compare, and
``pickled_<version>_optuna<major>.pkl``: the whole searcher pickled, as ``Tuner.restore`` finds
it in an experiment's ``tuner.pkl`` (from 0.4 on).

0.2.0 itself required Optuna >= 4; ``saved_0.2.0_optuna3`` was written by 0.2.0's code on this
package's oldest pins (Ray 2.30, Optuna 3.6.1) so that 0.2's shape of the state is restored at
both ends of today's range.
"""

import json
import os
import sys

import optuna
from ray import tune

import ray_graded_penalty
from ray_graded_penalty import GradedPenaltySearcher

SPACE = {"x": tune.uniform(0, 1)}


def main(out_dir: str) -> None:
    version = ray_graded_penalty.__version__
    kwargs = {}
    if version >= "0.3":
        from ray_graded_penalty import SLO

        kwargs["slos"] = [SLO("p99_s", max=0.5)]
    searcher = GradedPenaltySearcher("optuna", trial_timeout_s=600, seed=0, metric="score", mode="max", **kwargs)
    searcher.set_search_properties(None, None, SPACE)
    for trial_id in "abcdef":
        searcher.suggest(trial_id)
    searcher.on_trial_complete("a", result={"score": 5.0, "p99_s": 0.1})
    searcher.record_failure("b", elapsed_s=300, error="CUDA out of memory")
    searcher.on_trial_complete("c", error=True)  # waiting for its details: told at the save
    if kwargs:
        searcher.on_trial_complete("e", result={"score": 7.0, "p99_s": 0.6})  # an SLO miss
    searcher.on_trial_complete("f", result={"score": -5000.0, "p99_s": 0.1})  # failures move below it
    # "d" (and "e" for 0.2) still running at the save
    name = f"saved_{version}_optuna{optuna.__version__.split('.')[0]}"
    searcher.save(os.path.join(out_dir, name + ".pkl"))
    if version >= "0.4":
        from ray import cloudpickle

        with open(os.path.join(out_dir, name.replace("saved_", "pickled_") + ".pkl"), "wb") as f:
            f.write(cloudpickle.dumps(searcher))
    told = {t: {"told": o.told, "kind": getattr(o, "kind", "failure" if o.failed else "success"),
                "penalty": o.penalty} for t, o in searcher.outcomes.items()}
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump({"version": version, "slos": bool(kwargs), "running": sorted(set("abcdef") - set(told)),
                   "best": searcher.best.trial_id, "outcomes": told}, f, indent=1, sort_keys=True)
    print("wrote", name, "from", ray_graded_penalty.__file__)


if __name__ == "__main__":
    main(sys.argv[1])

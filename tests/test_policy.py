"""The penalty policy: the seed design's table, validation, and its ordering property."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ray_graded_penalty import DEFAULT_MODIFIERS, ErrorModifier, PenaltyPolicy, Tier

# The seed design's "Penalty Scale" table, for a 600 s timeout.
DESIGN_TABLE = [
    ("deployment failure", 60, "Deployment failed: image not found", -1200.0),
    ("immediate crash", 60, "Segmentation fault", -1000.0),
    ("benchmark start fail", 240, "benchmark exited with code 1", -500.0),
    ("OOM error", 300, "CUDA OOM while allocating KV cache", -750.0),
    ("late benchmark fail", 480, "benchmark exited with code 1", -200.0),
    ("timeout", 600, "request timeout", -80.0),
]


@pytest.mark.parametrize("name,elapsed,error,expected", DESIGN_TABLE)
def test_design_table_reproduces_exactly_in_both_modes(name, elapsed, error, expected):
    policy = PenaltyPolicy()
    assert policy.penalty(elapsed, 600, error=error, mode="max") == expected
    assert policy.penalty(elapsed, 600, error=error, mode="min") == -expected


def test_design_document_validation_run_tiers():
    policy = PenaltyPolicy()
    assert policy.penalty(30, 600, "deploy") == -1200.0
    assert policy.penalty(90, 600, "deploy") == -1200.0
    assert policy.penalty(240, 600, "") == -500.0
    assert policy.penalty(300, 600, "out of memory") == -750.0
    assert policy.penalty(480, 600, "") == -200.0


@pytest.mark.parametrize(
    "error",
    ["Experiment timed out after 600 seconds", "TimeoutError", "ray.exceptions.GetTimeoutError"],
)
def test_a_timeout_is_graded_as_a_timeout_whatever_its_wording(error):
    assert PenaltyPolicy().penalty(600, 600, error=error, mode="max") == -80.0
    assert PenaltyPolicy().grade(600, 600, error).error_class == "timeout"  # -80 is also connection's and slo's


def test_tier_boundaries_are_inclusive_at_their_start():
    policy = PenaltyPolicy()
    assert policy.penalty(0.1999 * 600, 600) == -1000.0
    assert policy.penalty(0.20 * 600, 600) == -500.0
    assert policy.penalty(0.60 * 600, 600) == -200.0
    assert policy.penalty(0.95 * 600, 600) == -100.0


def test_completion_is_clamped_to_one():
    grade = PenaltyPolicy().grade(5000, 600, "")
    assert grade.completion == 1.0 and grade.magnitude == 100.0


def test_first_matching_modifier_wins_case_insensitively():
    policy = PenaltyPolicy()
    assert policy.penalty(0, 600, "DEPLOY failed: Out Of Memory") == -1500.0  # the cause before the stage
    assert policy.penalty(0, 600, "OOM after connection reset") == -1500.0
    assert policy.penalty(0, 600, "Connection refused") == -800.0
    assert policy.classify("connection refused").name == "connection"
    assert policy.classify("no keyword here") is None


def test_least_magnitude_is_the_least_bad_possible_failure():
    assert PenaltyPolicy().least_magnitude == 80.0


def test_custom_policy_from_plain_tuples():
    policy = PenaltyPolicy(tiers=[(0.0, 10.0), (0.5, 2.0)], modifiers=[("gpu", ["xid"], 3.0)])
    assert policy.penalty(10, 100, "Xid 79", mode="min") == 30.0
    assert policy.penalty(60, 100, "", mode="max") == -2.0
    assert policy.tiers == (Tier(0.0, 10.0), Tier(0.5, 2.0))


@pytest.mark.parametrize(
    "tiers,message",
    [
        ([], "must not be empty"),
        ([(0.1, 10.0)], "first tier must start at 0.0"),
        ([(0.0, 10.0), (0.0, 5.0)], "increase strictly"),
        ([(0.0, 10.0), (0.5, 20.0)], "magnitudes must not increase"),
        ([(0.0, -1.0)], "magnitude must be positive"),
        ([(0.0, math.nan)], "must be finite"),
        ([(0.0, 10.0), (1.5, 1.0)], r"in \[0, 1\]"),
        (["oops"], r"tiers\[0\] must be a Tier"),
        (None, r"tiers must be a list of Tier or \(start, magnitude\) pairs, got None"),
    ],
)
def test_malformed_tiers_are_refused_at_construction(tiers, message):
    with pytest.raises((ValueError, TypeError), match=message):
        PenaltyPolicy(tiers=tiers)


@pytest.mark.parametrize(
    "modifiers,message",
    [
        ([("oom", ["oom"], 0.0)], "factor must be positive"),
        ([("oom", ["oom"], math.inf)], "must be finite"),
        ([("oom", "oom", 1.5)], "list of non-empty strings, got 'oom'"),
        ([("oom", None, 1.5)], "list of non-empty strings, got None"),
        ([("oom", 5, 1.5)], "list of non-empty strings, got 5"),
        ([("oom", [], 1.5)], "has no keywords"),
        ([("oom", [""], 1.5)], "non-empty strings"),
        ([("", ["oom"], 1.5)], "non-empty string"),
        ([("a", ["x"], 1.0), ("a", ["y"], 2.0)], "unique"),
        ([("a", ["x"])], "triple"),
        (None, "modifiers must be a list of ErrorModifier or"),
    ],
)
def test_malformed_modifiers_are_refused_at_construction(modifiers, message):
    with pytest.raises((ValueError, TypeError), match=message):
        PenaltyPolicy(modifiers=modifiers)


def test_a_magnitude_times_a_factor_beyond_a_float_is_refused_at_construction():
    """Each number finite, their product was not: every such failure's penalty was -inf."""
    with pytest.raises(ValueError, match="magnitude 1e\\+300 times a modifier's factor 1e\\+200 is not"):
        PenaltyPolicy(tiers=[(0.0, 1e300)], modifiers=[("oom", ["oom"], 1e200)])
    assert PenaltyPolicy(tiers=[(0.0, 1e300)], modifiers=[("oom", ["oom"], 1.5)]).penalty(1, 10, "oom") == -1.5e300


def test_keywords_given_as_a_generator_are_kept():
    """The check of each keyword read a generator to its end, and the modifier kept none: its
    failures were not scaled, and the saved state could not be read back ("has no keywords")."""
    policy = PenaltyPolicy(modifiers=[("xid", (k for k in ["Xid"]), 2.0)])
    assert policy.modifiers[0].keywords == ("Xid",)
    assert PenaltyPolicy.from_data(policy.to_data()).modifiers == policy.modifiers


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(elapsed_s=math.nan, timeout_s=600), "elapsed_s must be finite"),
        (dict(elapsed_s=-1, timeout_s=600), "elapsed_s must not be negative"),
        (dict(elapsed_s=1, timeout_s=0), "timeout_s must be a positive"),
        (dict(elapsed_s=1, timeout_s=math.inf), "timeout_s must be finite"),
        (dict(elapsed_s="10", timeout_s=600), "elapsed_s must be a number"),
        (dict(elapsed_s=1, timeout_s=600, mode="maximize"), "mode must be 'max' or 'min'"),
        (dict(elapsed_s=1, timeout_s=600, error=42), "error must be a string"),
    ],
)
def test_bad_arguments_get_a_clear_error(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        PenaltyPolicy().penalty(**kwargs)


# ----- properties over any valid policy -----------------------------------------------------

starts = st.lists(st.floats(0.001, 1.0), max_size=5, unique=True).map(sorted)
magnitudes = st.lists(st.floats(0.01, 1e6), min_size=6, max_size=6).map(lambda m: sorted(m, reverse=True))


@st.composite
def policies(draw):
    tier_starts = [0.0] + draw(starts)
    mags = draw(magnitudes)[: len(tier_starts)]
    factors = draw(st.lists(st.floats(0.01, 100.0), min_size=3, max_size=3))
    modifiers = [ErrorModifier(n, k, f) for (n, k, _), f in zip(
        [("a", ("alpha",), 0), ("b", ("beta",), 0), ("c", ("gamma",), 0)], factors)]
    return PenaltyPolicy(tiers=list(zip(tier_starts, mags)), modifiers=modifiers)


@given(
    policy=policies(),
    times=st.lists(st.floats(0, 2000), min_size=2, max_size=2).map(sorted),
    error=st.sampled_from(["", "alpha", "beta gamma", "unrelated", "GAMMA"]),
    mode=st.sampled_from(["max", "min"]),
)
def test_an_earlier_failure_never_scores_better_than_a_later_one(policy, times, error, mode):
    earlier, later = (policy.penalty(t, 600, error, mode) for t in times)
    if mode == "max":
        assert earlier <= later
    else:
        assert earlier >= later


@given(
    elapsed=st.floats(0, 1e6), timeout=st.floats(1e-3, 1e6),
    error=st.text(max_size=40), mode=st.sampled_from(["max", "min"]),
)
def test_default_penalty_is_finite_and_in_the_bad_direction(elapsed, timeout, error, mode):
    penalty = PenaltyPolicy().penalty(elapsed, timeout, error, mode)
    assert math.isfinite(penalty)
    assert 80.0 <= abs(penalty) <= 1500.0
    assert (penalty < 0) if mode == "max" else (penalty > 0)


def test_defaults_are_the_design_documents_classes_and_factors_the_cause_before_the_stage():
    assert [m.name for m in DEFAULT_MODIFIERS] == ["slo", "oom", "deploy", "timeout", "connection"]
    assert [m.factor for m in DEFAULT_MODIFIERS] == [0.8, 1.5, 1.2, 0.8, 0.8]
    design_keywords = {"deploy": ["deploy", "not found"], "oom": ["oom"], "connection": ["connection"],
                       "timeout": ["timeout"]}
    for modifier in DEFAULT_MODIFIERS[1:]:
        assert set(design_keywords[modifier.name]) <= set(modifier.keywords)


def test_an_slo_failure_is_classed_slo_even_when_its_metric_names_memory():
    policy = PenaltyPolicy()
    text = "SLO missed: gpu_memory_gb <= 70 at 90 (29% over, fail_ratio 20%)"
    assert policy.grade(600, 600, text).error_class == "slo"
    assert policy.penalty(600, 600, text) == -80.0
    forced = policy.grade(600, 600, "anything", error_class="slo")
    assert (forced.error_class, forced.magnitude) == ("slo", 80.0)
    assert PenaltyPolicy(modifiers=[]).grade(600, 600, "x", error_class="slo").magnitude == 100.0


# ----- the tie-break TPE is given: the rank -------------------------------------------------

def test_default_magnitudes_and_the_tie_break_below_half_their_smallest_gap():
    policy = PenaltyPolicy()
    assert policy.magnitudes == (80, 100, 120, 150, 160, 200, 240, 300, 400, 500, 600, 750, 800, 1000, 1200, 1500)
    # 150 (late OOM) and 160 (a connection loss in the 200 tier) are the closest: gap 10.
    assert policy.grade(0.6 * 600, 600, "x").rank == pytest.approx(200 + 0.4 * 4.9)
    assert policy.grade(600, 600, "x").rank == 100.0  # finished the budget: no tie-break


def test_rank_orders_the_design_table_exactly_as_its_penalties_do():
    policy = PenaltyPolicy()
    grades = [policy.grade(t, 600, e) for t in range(0, 601, 3) for e in ("oom", "deploy", "connection", "timeout", "")]
    for a in grades:
        for b in grades:
            if a.magnitude < b.magnitude:
                assert a.rank < b.rank


@given(
    policy=policies(),
    times=st.lists(st.floats(0, 2000), min_size=2, max_size=2).map(sorted),
    error=st.sampled_from(["", "alpha", "beta gamma", "unrelated"]),
)
def test_an_earlier_failure_never_ranks_better_and_ranks_worse_within_a_tier(policy, times, error):
    earlier, later = (policy.grade(t, 600, error) for t in times)
    assert earlier.rank >= later.rank
    mags = policy.magnitudes
    smallest_gap = min([b - a for a, b in zip(mags, mags[1:])] or [mags[0]])
    tie_break_difference = smallest_gap * (later.completion - earlier.completion)
    if earlier.magnitude == later.magnitude and tie_break_difference > 1e-6 * earlier.magnitude:
        assert earlier.rank > later.rank  # strictly, wherever floats can resolve it


def test_without_the_tie_break_the_rank_is_the_magnitude():
    policy = PenaltyPolicy(break_ties_by_progress=False)
    grade = policy.grade(400, 600, "exit code 1")
    assert grade.rank == grade.magnitude == 200.0
    assert policy != PenaltyPolicy() and "break_ties_by_progress=False" in repr(policy)
    with pytest.raises(TypeError, match="break_ties_by_progress must be True or False, got 'no'"):
        PenaltyPolicy(break_ties_by_progress="no")


def test_a_policy_saved_before_the_tie_break_existed_grades_without_it():
    import pickle

    from ray_graded_penalty._core import legacy
    from ray_graded_penalty._core import state as saved_state

    old = PenaltyPolicy()
    del old.__dict__["break_ties_by_progress"], old.__dict__["_tie_width"]  # as 0.1.0 pickled it
    state = {"version": 3, "metric": "score", "mode": "max", "trial_timeout_s": 600.0, "policy": old,
             "slos": (), "records": {}, "ledger": None, "keeper": {}}
    restored = saved_state.from_data(legacy.load(pickle.dumps(state))).policy
    grade = restored.grade(400, 600, "exit code 1")
    assert grade.rank == grade.magnitude == 200.0 and not restored.break_ties_by_progress
    assert pickle.loads(pickle.dumps(PenaltyPolicy())) == PenaltyPolicy()


def test_0_4_s_name_for_the_error_class_still_answers_with_a_deprecation_warning():
    policy = PenaltyPolicy()
    oom = policy.grade(30, 600, "CUDA out of memory")
    crash = policy.grade(30, 600, "ValueError: zoom level must be positive")
    with pytest.warns(DeprecationWarning, match="Grade.error_class"):
        assert oom.modifier == oom.error_class == "oom"
    with pytest.warns(DeprecationWarning):
        assert crash.modifier is None and crash.error_class == "crash"  # 0.4 had no class for a plain crash

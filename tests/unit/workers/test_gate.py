"""The promotion gate on synthetic evaluation slices: paired tests, not point estimates."""

from __future__ import annotations

import numpy as np
import pytest

from sieve.core.settings import RetrainSettings
from sieve.models.evaluation import evaluate
from sieve.workers.distill.gate import (
    bootstrap_f1_differences,
    macro_f1,
    promotion_gate,
    sign_test_p,
    significantly_worse_labels,
    tarone_count,
)

CONFIG = RetrainSettings()
LABELS = [f"l{k:02d}" for k in range(20)]


def slice_of(per_label: int, labels: list[str] = LABELS) -> list[str]:
    return [label for label in labels for _ in range(per_label)]


def with_errors(gold: list[str], wrong: dict[int, str]) -> list[str]:
    """``gold`` with the items at the given positions predicted as another label."""
    return [wrong.get(i, label) for i, label in enumerate(gold)]


def spread_errors(gold: list[str], rate: float, seed: int) -> list[str]:
    """Each item wrong with probability ``rate``, as a label drawn uniformly from the others."""
    rng = np.random.default_rng(seed)
    predicted = list(gold)
    for i in np.flatnonzero(rng.random(len(gold)) < rate):
        others = [label for label in LABELS if label != gold[i]]
        predicted[i] = others[rng.integers(len(others))]
    return predicted


def test_no_active_model_promotes():
    gold = slice_of(5)
    assert promotion_gate(gold, gold, None, LABELS, CONFIG).reason == "no active model"


def test_equal_models_pass_with_a_zero_interval():
    gold = slice_of(25)
    predicted = spread_errors(gold, 0.2, seed=1)
    result = promotion_gate(gold, predicted, predicted, LABELS, CONFIG)
    assert result.passed
    assert "difference +0.0000 [95% CI +0.0000, +0.0000]: not measurably worse" in result.reason


def test_a_clearly_worse_candidate_is_refused():
    gold = slice_of(50)
    result = promotion_gate(
        gold, spread_errors(gold, 0.45, seed=2), spread_errors(gold, 0.15, seed=3), LABELS, CONFIG
    )
    assert not result.passed
    assert result.reason.startswith("macro-F1 0.5")
    assert ": measurably worse" in result.reason


def test_a_better_candidate_passes():
    gold = slice_of(50)
    result = promotion_gate(
        gold, spread_errors(gold, 0.15, seed=3), spread_errors(gold, 0.45, seed=2), LABELS, CONFIG
    )
    assert result.passed
    assert result.reason.endswith(": measurably better")


def test_worse_on_one_well_supported_label_only_is_refused_naming_it():
    """Better overall (it fixes 60 of the active model's errors elsewhere) but it misses 30
    more of l03's 100 items: the macro-F1 interval passes it, the label test does not."""
    gold = slice_of(100)
    active = spread_errors(gold, 0.2, seed=1)
    l03_right = [i for i in range(300, 400) if active[i] == "l03"]
    elsewhere_wrong = [i for i in range(500, 2000) if active[i] != gold[i]]
    candidate = with_errors(
        active, {**{i: "l04" for i in l03_right[:30]}, **{i: gold[i] for i in elsewhere_wrong[:60]}}
    )
    result = promotion_gate(gold, candidate, active, LABELS, CONFIG)
    assert not result.passed
    assert "difference +0.01" in result.reason
    assert ": not measurably worse overall, but worse on " in result.reason
    assert "l03 (30 items lost" in result.reason


def test_a_few_flips_on_a_small_label_pass():
    """One example moves a 25-example label's F1 by ~0.04; 3 flips are noise, not a veto."""
    gold = slice_of(25)
    active = spread_errors(gold, 0.2, seed=4)
    first_of_l07 = 7 * 25
    flips = {first_of_l07 + i: "l08" for i in range(25) if active[first_of_l07 + i] == "l07"}
    candidate = with_errors(active, dict(list(flips.items())[:3]))
    assert evaluate(gold, candidate, LABELS).per_label_f1["l07"] < (
        evaluate(gold, active, LABELS).per_label_f1["l07"] - 0.05
    )  # the old gate's per-label margin would have refused this
    result = promotion_gate(gold, candidate, active, LABELS, CONFIG)
    assert result.passed, result.reason


def test_equally_good_models_with_independent_errors_are_rarely_refused():
    """Two models of the same skill on a 25-per-label slice: the old gate (macro-F1 must
    not fall, no label may lose 0.05 F1) refused all 20 of these; the paired tests refuse
    about at their level (2.5% per test)."""
    gold = slice_of(25)
    refused = sum(
        not promotion_gate(
            gold,
            spread_errors(gold, 0.2, seed=100 + trial),
            spread_errors(gold, 0.2, seed=200 + trial),
            LABELS,
            CONFIG,
        ).passed
        for trial in range(20)
    )
    assert refused <= 1


def test_a_slightly_better_candidate_is_never_refused():
    """17% against 20% errors, 25 items per label: noise dominates each label's F1."""
    gold = slice_of(25)
    refused = [
        trial
        for trial in range(20)
        if not promotion_gate(
            gold,
            spread_errors(gold, 0.17, seed=100 + trial),
            spread_errors(gold, 0.2, seed=200 + trial),
            LABELS,
            CONFIG,
        ).passed
    ]
    assert refused == []


def test_tolerance_lets_a_slightly_worse_candidate_through():
    """Two misses per label (as the next label) against a perfect active model: too few
    for any one label's test, clear in the macro-F1 interval."""
    gold = slice_of(50)
    candidate = with_errors(
        gold, {50 * k + i: LABELS[(k + 1) % len(LABELS)] for k in range(20) for i in range(2)}
    )
    strict = promotion_gate(gold, candidate, gold, LABELS, CONFIG)
    assert not strict.passed
    assert strict.reason.endswith(": measurably worse")
    tolerant = CONFIG.model_copy(update={"gate_f1_tolerance": 0.1})
    assert promotion_gate(gold, candidate, gold, LABELS, tolerant).passed


def test_the_same_seed_gives_the_same_interval():
    gold = np.repeat(np.arange(20), 25)
    rng = np.random.default_rng(0)
    candidate, active = rng.integers(0, 20, 500), rng.integers(0, 20, 500)
    first = bootstrap_f1_differences(gold, candidate, active, 20, rounds=300, seed=7)
    again = bootstrap_f1_differences(gold, candidate, active, 20, rounds=300, seed=7)
    other = bootstrap_f1_differences(gold, candidate, active, 20, rounds=300, seed=8)
    assert first.shape == (300,)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_chunked_rounds_match_one_chunk(monkeypatch):
    gold = np.repeat(np.arange(5), 10)
    rng = np.random.default_rng(1)
    candidate, active = rng.integers(0, 5, 50), rng.integers(0, 5, 50)
    whole = bootstrap_f1_differences(gold, candidate, active, 5, rounds=40, seed=3)
    monkeypatch.setattr("sieve.workers.distill.gate._MAX_DRAWS_PER_CHUNK", 50 * 7)
    chunked = bootstrap_f1_differences(gold, candidate, active, 5, rounds=40, seed=3)
    assert chunked.shape == (40,)
    # Chunks draw the same stream of integers, row by row, so the rounds are the same.
    assert np.allclose(whole, chunked)


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_matches_evaluate(seed):
    rng = np.random.default_rng(seed)
    n_labels = 6
    gold = rng.integers(0, n_labels - 1, 40)  # the last label never occurs in gold
    predicted = np.where(rng.random(40) < 0.6, gold, rng.integers(0, n_labels, 40))
    names = [f"x{k}" for k in range(n_labels)]
    expected = evaluate([names[k] for k in gold], [names[k] for k in predicted], names)
    assert macro_f1(gold, predicted, n_labels) == pytest.approx(expected.macro_f1)


@pytest.mark.parametrize(
    ("gold", "candidate", "active", "lost", "gained"),
    [
        # candidate misses a (says b) where active is right: an error for a and for b
        ([0], [1], [0], [1, 1, 0], [0, 0, 0]),
        # both wrong the same way: no difference for any label
        ([0], [1], [1], [0, 0, 0], [0, 0, 0]),
        # both miss a, with different wrong labels: b against the candidate, c against active
        ([0], [1], [2], [0, 1, 0], [0, 0, 1]),
        # active wrong, candidate right
        ([2], [2], [0], [0, 0, 0], [1, 0, 1]),
    ],
)
def test_per_label_error_counts(gold, candidate, active, lost, gained):
    arrays = [np.asarray(column * 20) for column in (gold, candidate, active)]
    worse = {
        test.label: (test.lost, test.gained)
        for test in significantly_worse_labels(*arrays, ["a", "b", "c"], alpha=0.5)
    }
    expected = {
        label: (20 * lost[k], 20 * gained[k])
        for k, label in enumerate(["a", "b", "c"])
        if lost[k] > gained[k]
    }
    assert worse == expected


@pytest.mark.parametrize(
    ("lost", "discordant", "expected"),
    [
        (0, 0, 1.0),  # no discordant item: no evidence either way
        (0, 5, 1.0),
        (3, 3, 0.125),
        (5, 5, 0.03125),
        (2, 4, 11 / 16),
        (30, 30, 0.5**30),
        (600, 1000, 1.364232e-10),  # scipy.stats.binom.sf(599, 1000, 0.5)
    ],
)
def test_sign_test_p(lost, discordant, expected):
    assert sign_test_p(lost, discordant) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize(
    ("discordant", "expected"),
    [
        ([], 1),
        ([0, 0, 0], 1),  # nothing can reach significance: one test's worth of correction
        ([20, 0, 0, 1], 1),  # only one label can go below alpha / 1
        ([20, 20, 2, 2], 2),
        ([20] * 10, 10),
    ],
)
def test_tarone_counts_only_labels_that_could_be_significant(discordant, expected):
    assert tarone_count(np.asarray(discordant, dtype=np.int64), alpha=0.025) == expected


@pytest.mark.parametrize(
    ("gold", "candidate", "active", "message"),
    [
        (["l00"], ["l00", "l01"], ["l00"], "differ in length"),
        (["l00"], ["zz"], ["l00"], "outside the label set"),
        ([], [], [], "empty"),
    ],
)
def test_bad_input_is_a_clear_error(gold, candidate, active, message):
    with pytest.raises(ValueError, match=message):
        promotion_gate(gold, candidate, active, LABELS, CONFIG)

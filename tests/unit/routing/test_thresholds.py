import json

import numpy as np
import pytest

from sieve.core.settings import RoutingSettings
from sieve.routing.fit import fit_routing
from sieve.routing.share import (
    RecentConfidences,
    gate_share,
    share_budget_applies,
    swap_window,
    threshold_for_share,
)
from sieve.routing.thresholds import (
    NEVER_ACCEPT,
    RoutingThresholds,
    global_threshold,
    per_label_thresholds,
    precision_threshold,
)

LABELS = ("card", "refund", "transfer", "cash", "rare")
# A teacher known to be always right: agreement is precision, as the old fit assumed.
EXACT_TEACHER = RoutingSettings(target_precision=0.9, teacher_accuracy=1.0, min_label_support=30)


def calibrated_slice(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels drawn from them; "rare" is almost never predicted."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.5, size=(count, len(LABELS)))
    logits[:, -1] -= 6.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    draws = rng.random((count, 1))
    labels = np.minimum((probs.cumsum(axis=1) < draws).sum(axis=1), len(LABELS) - 1)
    return probs, labels


@pytest.mark.parametrize(
    ("confidences", "correct", "target", "expected"),
    [
        # kept precision from the top: 1/1, 2/2, 2/3, 3/4
        ([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], 1.0, 0.8),
        ([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], 0.8, 0.8),
        ([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], 0.75, 0.6),  # exactly at the target
        ([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 1], 0.0, 0.6),
        ([0.6, 0.9, 0.7, 0.8], [1, 1, 0, 1], 0.8, 0.8),  # order of input does not matter
        # a tie cannot be split: 0.8 keeps both tied items (2/3)
        ([0.9, 0.8, 0.8], [1, 1, 0], 1.0, 0.9),
        ([0.9, 0.8, 0.8], [1, 1, 0], 0.6, 0.8),
        # the target is out of reach: nothing may be kept
        ([0.9, 0.8], [0, 1], 0.9, NEVER_ACCEPT),
        ([], [], 0.5, NEVER_ACCEPT),
    ],
)
def test_precision_threshold_edges(confidences, correct, target, expected):
    assert precision_threshold(np.array(confidences), np.array(correct), target) == expected


def kept_precision(probs, labels, thresholds, label_index):
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    kept = (predicted == label_index) & (confidence >= thresholds[LABELS[label_index]])
    return kept.sum(), (labels[kept] == label_index).mean() if kept.any() else None


@pytest.mark.parametrize("target", [0.7, 0.85, 0.95])
def test_per_label_thresholds_reach_the_target_on_their_slice(target):
    probs, labels = calibrated_slice(4_000, seed=1)
    thresholds = per_label_thresholds(probs, labels, LABELS, target, min_support=50)
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    fitted = 0
    for index, label in enumerate(LABELS[:-1]):
        assert thresholds[label] < NEVER_ACCEPT
        kept, precision = kept_precision(probs, labels, thresholds, index)
        assert kept > 0 and precision >= target
        fitted += 1
        # The lowest such threshold: the next lower observed confidence misses the target.
        below = np.sort(confidence[(predicted == index) & (confidence < thresholds[label])])
        if below.size:
            lowered = dict(thresholds, **{label: float(below[-1])})
            assert kept_precision(probs, labels, lowered, index)[1] < target
    assert fitted == len(LABELS) - 1


def test_thresholds_rise_with_the_target_precision():
    probs, labels = calibrated_slice(4_000, seed=2)
    targets = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    fitted = [per_label_thresholds(probs, labels, LABELS, t, min_support=50) for t in targets]
    for label in LABELS:
        series = [thresholds[label] for thresholds in fitted]
        assert series == sorted(series), label
    # and they do move: the test would catch thresholds stuck at one value
    assert fitted[0]["card"] < fitted[-2]["card"]


def test_labels_with_little_support_get_the_global_threshold():
    probs, labels = calibrated_slice(4_000, seed=3)
    support = np.bincount(probs.argmax(axis=1), minlength=len(LABELS))
    assert support[-1] < 50 <= support[:-1].min()
    thresholds = per_label_thresholds(probs, labels, LABELS, 0.9, min_support=50)
    pooled = global_threshold(probs, labels, 0.9)
    assert thresholds["rare"] == pooled
    assert thresholds["card"] != pooled


def test_a_supported_label_that_misses_the_target_is_never_accepted():
    # "b" is predicted 20 times and right only on its least confident item.
    probs = np.array([[0.1, 0.9]] * 19 + [[0.4, 0.6]] + [[0.9, 0.1]] * 20)
    labels = np.array([0] * 19 + [1] + [0] * 20)
    thresholds = per_label_thresholds(probs, labels, ("a", "b"), 0.9, min_support=10)
    assert thresholds == {"a": 0.9, "b": NEVER_ACCEPT}


def test_threshold_for_share_on_random_confidences():
    confidences = np.random.default_rng(4).random(10_000)
    threshold = threshold_for_share(confidences, 0.15)
    assert abs(np.mean(confidences < threshold) - 0.15) <= 0.01


def test_share_threshold_from_recent_traffic_holds_on_the_next_messages():
    # Skewed like a trained model's top confidences; fitted on 5,000, applied to 1,000 new.
    rng = np.random.default_rng(5)
    recent, upcoming = rng.beta(5.0, 1.2, 5_000), rng.beta(5.0, 1.2, 1_000)
    threshold = threshold_for_share(recent, 0.15)
    realised = float(np.mean(upcoming < threshold))
    print(f"target share 15%: realised {realised:.1%} on the next 1,000")
    assert abs(realised - 0.15) <= 0.03


@pytest.mark.parametrize(
    ("share", "expected"),
    [(0.0, 0.0), (1.0, NEVER_ACCEPT), (0.5, 0.3), (0.25, 0.2)],
)
def test_threshold_for_share_edges(share, expected):
    assert threshold_for_share(np.array([0.4, 0.2, 0.3, 0.1]), share) == expected


def test_threshold_for_share_refuses_nonsense():
    with pytest.raises(ValueError):
        threshold_for_share(np.array([]), 0.1)
    with pytest.raises(ValueError):
        threshold_for_share(np.array([0.5]), 1.5)


@pytest.mark.parametrize(("target", "rate"), [(0.15, 0.02), (0.3, 0.1), (0.15, 0.0)])
def test_gate_share_adds_up_to_the_target_with_exploration(target, rate):
    gate = gate_share(target, rate)
    assert gate + (1 - gate) * rate == pytest.approx(target)


def test_gate_share_is_zero_when_exploration_alone_exceeds_the_target():
    assert gate_share(0.01, 0.05) == 0.0


def test_recent_confidences_wrap_oldest_first():
    recent = RecentConfidences(capacity=4)
    recent.add([0.1, 0.2, 0.3])
    assert len(recent) == 3
    assert recent.values().tolist() == [0.1, 0.2, 0.3]
    recent.add(np.array([0.4, 0.5]))
    assert len(recent) == recent.capacity == 4
    assert recent.values().tolist() == [0.2, 0.3, 0.4, 0.5]
    recent.add([0.6, 0.7, 0.8, 0.9, 1.0, 0.05])  # more than the capacity at once
    assert recent.values().tolist() == [0.8, 0.9, 1.0, 0.05]
    recent.add([0.15])
    assert recent.values().tolist() == [0.9, 1.0, 0.05, 0.15]


def test_recent_confidences_drop_non_finite_values_and_clear():
    recent = RecentConfidences(capacity=3)
    recent.add([0.5, float("nan"), 0.25, float("inf")])
    assert recent.values().tolist() == [0.5, 0.25]
    recent.clear()
    assert len(recent) == 0
    assert recent.values().size == 0


def test_recent_confidences_give_no_share_threshold_until_enough_are_held():
    recent = RecentConfidences(capacity=1_000)
    recent.add(np.linspace(0.0, 1.0, 100, endpoint=False))
    assert recent.threshold_for_share(0.15, min_samples=101) is None
    assert recent.threshold_for_share(0.15, min_samples=100) == pytest.approx(0.15)


def test_recent_confidences_refuse_no_capacity():
    with pytest.raises(ValueError):
        RecentConfidences(capacity=0)


def test_routing_thresholds_round_trip_through_json():
    probs, labels = calibrated_slice(2_000, seed=6)
    fitted = fit_routing(probs, labels, LABELS, EXACT_TEACHER, temperature=1.7)
    restored = RoutingThresholds.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert restored == fitted
    assert restored.temperature == 1.7
    assert restored.target_precision == 0.9
    assert set(restored.per_label) == set(LABELS)


def test_routing_thresholds_fall_back_to_the_global_threshold():
    thresholds = RoutingThresholds(per_label={"a": 0.7}, global_threshold=0.8)
    assert thresholds.for_label("a") == 0.7
    assert thresholds.for_label("not fitted") == 0.8


def test_routing_thresholds_keep_their_own_copy():
    per_label = {"a": 0.7}
    thresholds = RoutingThresholds(per_label=per_label, global_threshold=0.8)
    per_label["a"] = 0.1
    assert thresholds.for_label("a") == 0.7


@pytest.mark.parametrize(
    "data",
    [
        {"per_label": {"a": 2.5}, "global_threshold": 0.5},  # above NEVER_ACCEPT
        {"per_label": {"a": 0.5}, "global_threshold": -0.1},
        {"per_label": {"a": 0.5}, "global_threshold": 0.5, "temperature": 0.0},
        {"per_label": {"a": 0.5}, "global_threshold": 0.5, "format_version": 99},
        {"per_label": {"a": "high"}, "global_threshold": 0.5},
        {"per_label": [0.5], "global_threshold": 0.5},
        {"global_threshold": 0.5},
        "not an object",
    ],
)
def test_bad_routing_thresholds_are_refused(data):
    with pytest.raises(ValueError):
        RoutingThresholds.from_dict(data)


def test_a_swapped_in_model_has_a_share_threshold_from_its_first_batch():
    """Retraining records the slice's confidence quantiles; the window warm-started from
    them sends about the target share of the next traffic without waiting for it."""
    probs, labels = calibrated_slice(2_000, seed=7)
    fitted = fit_routing(probs, labels, LABELS, EXACT_TEACHER)
    restored = RoutingThresholds.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert len(restored.confidence_quantiles) > 100
    assert restored.confidence_quantiles[0] == pytest.approx(probs.max(axis=1).min())
    recent = RecentConfidences(capacity=5_000)
    recent.add([0.99] * 300)  # the previous model's confidences
    recent.warm_start(restored.confidence_quantiles, count=200)
    assert len(recent) == 200
    threshold = recent.threshold_for_share(0.15, min_samples=200)
    assert threshold is not None
    traffic, _ = calibrated_slice(5_000, seed=8)  # the same distribution, other messages
    realised = float((traffic.max(axis=1) < threshold).mean())
    assert abs(realised - 0.15) < 0.02


def test_a_model_without_quantiles_starts_an_empty_window():
    recent = RecentConfidences(capacity=100)
    recent.add([0.5] * 50)
    recent.warm_start((), count=200)
    assert len(recent) == 0 and recent.threshold_for_share(0.15, min_samples=1) is None


def test_confidence_quantiles_must_be_probabilities():
    with pytest.raises(ValueError):
        RoutingThresholds(per_label={}, global_threshold=0.8, confidence_quantiles=(0.2, 1.5))


def _trained_on(count: int | None) -> RoutingThresholds:
    return RoutingThresholds(per_label={}, global_threshold=0.5, training_labels=count)


@pytest.mark.parametrize(
    ("share", "thresholds", "after", "applies"),
    [
        (None, _trained_on(10_000), 0, False),  # no budget set
        (0.15, _trained_on(1_999), 2_000, False),  # still warming up: route by precision
        (0.15, _trained_on(2_000), 2_000, True),
        (0.15, _trained_on(None), 2_000, False),  # size unknown: not known to be warm
        (0.15, None, 2_000, False),
        (0.15, None, 0, True),  # 0: the budget applies to any model
    ],
)
def test_the_share_budget_waits_for_a_warm_model(share, thresholds, after, applies):
    assert share_budget_applies(share, thresholds, after) is applies


def test_a_swap_window_mixes_fresh_scores_with_slice_stand_ins():
    kept = np.array([0.9, 0.8])
    mixed = swap_window(kept, 2, np.linspace(0.0, 0.4, 5))
    np.testing.assert_allclose(mixed, [0.9, 0.8, 0.1, 0.3])
    np.testing.assert_allclose(swap_window(kept, 0, (0.1,)), kept)
    np.testing.assert_allclose(swap_window(kept, 3, ()), kept)  # an older model: no slice

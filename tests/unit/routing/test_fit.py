import numpy as np
import pytest

from sieve.core.settings import RoutingSettings
from sieve.routing.fit import (
    Neighbours,
    default_target,
    estimate_teacher_accuracy,
    estimate_teacher_accuracy_from_pairs,
    fit_routing,
    unseen_threshold,
)
from sieve.routing.thresholds import NEVER_ACCEPT, PrecisionBasis

LABELS = tuple(f"label_{i}" for i in range(10))


def student_and_teacher(n: int, teacher_accuracy: float, seed: int):
    """A calibrated student (right with probability equal to its confidence, mostly
    confident as trained students are) and a teacher right with probability
    ``teacher_accuracy``, wrong uniformly otherwise; their errors independent."""
    rng = np.random.default_rng(seed)
    k = len(LABELS)
    truth = rng.integers(0, k, n)
    confidence = 0.2 + 0.8 * rng.beta(4.0, 1.0, n)
    right = rng.random(n) < confidence
    predicted = np.where(right, truth, (truth + rng.integers(1, k, n)) % k)
    probs = np.full((n, k), 0.0)
    probs[np.arange(n), predicted] = confidence
    rest = (1.0 - confidence) / (k - 1)
    probs += np.where(probs == 0.0, rest[:, None], 0.0)
    teacher_right = rng.random(n) < teacher_accuracy
    teacher = np.where(teacher_right, truth, (truth + rng.integers(1, k, n)) % k)
    return probs, truth, teacher


def kept_precision(probs, truth, thresholds) -> tuple[float, float]:
    predicted = probs.argmax(axis=1)
    limits = np.array([thresholds.for_label(LABELS[i]) for i in predicted])
    kept = probs.max(axis=1) >= limits
    return float((predicted[kept] == truth[kept]).mean()), float(kept.mean())


def test_anchor_points_estimate_the_teachers_accuracy():
    probs, _, teacher = student_and_teacher(20_000, 0.8, seed=1)
    agree = probs.argmax(axis=1) == teacher
    estimate = estimate_teacher_accuracy(probs.max(axis=1), agree)
    # the top tenth of this student is ~99% right: the estimate is close to 0.8
    assert estimate == pytest.approx(0.8, abs=0.02)


def test_a_slice_whose_top_tenth_is_under_30_items_gives_no_anchor_estimate():
    assert estimate_teacher_accuracy(np.ones(294), np.ones(294, bool)) is None
    agree = np.arange(300) < 290  # the 30 most confident agree
    assert estimate_teacher_accuracy(np.linspace(1, 0, 300), agree) == 1.0


def test_near_duplicates_estimate_the_teacher_without_the_student():
    rng = np.random.default_rng(2)
    n = 5_000
    right = rng.random((n, 2)) < 0.8  # the teacher on a paraphrase and on its neighbour
    same = right[:, 0] & right[:, 1]  # both right; both wrong alike is rare: ignored here
    similarity = rng.uniform(0.5, 1.0, n)
    estimate = estimate_teacher_accuracy_from_pairs(similarity, same)
    assert estimate == pytest.approx(0.8, abs=0.02)
    # pairs below the similarity floor do not count: too few close pairs, no estimate
    assert estimate_teacher_accuracy_from_pairs(similarity[:100], same[:100]) is None


@pytest.mark.parametrize("teacher_accuracy", [0.65, 0.8, 0.9])
def test_the_default_keeps_messages_more_accurate_than_the_teacher(teacher_accuracy):
    """Fitted on the teacher's labels alone, the default target keeps a good part of the
    traffic, and what it keeps (scored on other messages against the truth) beats the
    teacher; the old fit (agreement ≥ 0.95) kept nothing."""
    probs, _truth, teacher = student_and_teacher(4_000, teacher_accuracy, seed=2)
    fitted = fit_routing(probs, teacher, LABELS, RoutingSettings())
    assert fitted.basis is PrecisionBasis.TEACHER
    fresh_probs, fresh_truth, _ = student_and_teacher(20_000, teacher_accuracy, seed=3)
    precision, coverage = kept_precision(fresh_probs, fresh_truth, fitted)
    assert precision > teacher_accuracy
    assert coverage > 0.3
    assert fitted.target_precision == pytest.approx(default_target(fitted.teacher_accuracy))
    old = fit_routing(
        probs, teacher, LABELS, RoutingSettings(target_precision=0.95, teacher_accuracy=1.0)
    )
    assert kept_precision(fresh_probs, fresh_truth, old)[1] < 0.1


def test_a_set_target_and_teacher_accuracy_are_used_as_given():
    probs, _truth, teacher = student_and_teacher(4_000, 0.8, seed=4)
    settings = RoutingSettings(target_precision=0.9, teacher_accuracy=0.8)
    fitted = fit_routing(probs, teacher, LABELS, settings)
    assert (fitted.target_precision, fitted.teacher_accuracy) == (0.9, 0.8)
    fresh_probs, fresh_truth, _ = student_and_teacher(20_000, 0.8, seed=5)
    precision, _ = kept_precision(fresh_probs, fresh_truth, fitted)
    assert precision == pytest.approx(0.9, abs=0.03)


def test_a_gold_set_is_the_measure_when_large_enough():
    probs, _truth, teacher = student_and_teacher(2_000, 0.8, seed=6)
    gold_probs, gold_truth, _ = student_and_teacher(300, 0.8, seed=7)
    settings = RoutingSettings(target_precision=0.9, gold_min_items=300)
    fitted = fit_routing(
        probs, teacher, LABELS, settings, gold_probs=gold_probs, gold_labels=gold_truth
    )
    assert fitted.basis is PrecisionBasis.GOLD
    # the gold fit is the pooled threshold reaching 0.9 on the gold items
    confidence = gold_probs.max(axis=1)
    kept = confidence >= fitted.global_threshold
    assert (gold_probs.argmax(axis=1)[kept] == gold_truth[kept]).mean() >= 0.9
    too_small = settings.model_copy(update={"gold_min_items": 301})
    refit = fit_routing(
        probs, teacher, LABELS, too_small, gold_probs=gold_probs, gold_labels=gold_truth
    )
    assert refit.basis is PrecisionBasis.TEACHER


def test_a_slice_too_small_to_measure_escalates_everything():
    probs, _, teacher = student_and_teacher(200, 0.8, seed=8)
    fitted = fit_routing(probs, teacher, LABELS, RoutingSettings())
    assert fitted.global_threshold == NEVER_ACCEPT
    assert set(fitted.per_label.values()) == {NEVER_ACCEPT}


def test_unseen_threshold_is_a_quantile_of_held_out_similarities():
    similarity = np.linspace(-0.5, 1.0, 1_001)
    assert unseen_threshold(similarity, 0.02) == pytest.approx(-0.47)
    assert unseen_threshold(similarity, 0.0) is None
    assert unseen_threshold(np.array([np.nan]), 0.02) is None


def test_fitted_routing_records_similarity_floor_and_training_labels():
    probs, _, teacher = student_and_teacher(500, 0.8, seed=9)
    similarity = np.linspace(0.0, 1.0, 500)
    fitted = fit_routing(
        probs,
        teacher,
        LABELS,
        RoutingSettings(unseen_quantile=0.1),
        neighbours=Neighbours(similarity, np.ones(500, bool)),
        training_labels=2_000,
    )
    assert fitted.min_similarity == pytest.approx(0.1, abs=0.002)
    assert fitted.training_labels == 2_000
    # 50 near-duplicate pairs all labeled alike: the pair estimate (1.0) beats the anchors'
    assert fitted.teacher_accuracy == 1.0


def test_without_anchors_or_pairs_nothing_is_kept_and_with_pairs_it_is():
    probs, _, teacher = student_and_teacher(200, 0.8, seed=10)  # under 300: no anchors
    far = Neighbours(np.full(200, 0.5), np.ones(200, bool))
    assert fit_routing(probs, teacher, LABELS, RoutingSettings(), neighbours=far).basis is None
    rng = np.random.default_rng(11)
    close = Neighbours(np.full(200, 0.95), rng.random(200) < 0.64)  # teacher ~0.8
    fitted = fit_routing(probs, teacher, LABELS, RoutingSettings(), neighbours=close)
    assert fitted.basis is PrecisionBasis.TEACHER
    assert fitted.teacher_accuracy == pytest.approx(0.8, abs=0.06)
    assert fitted.global_threshold < NEVER_ACCEPT

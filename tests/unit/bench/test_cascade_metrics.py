import numpy as np
import pytest

from sieve.bench.cascade_metrics import (
    auroc_of_errors,
    expected_calibration_error,
    operating_point,
    share_point,
)

GOLD = np.array([0, 1, 2, 3])
STUDENT = np.array([0, 1, 0, 0])  # right on the first two
TEACHER = np.array([0, 2, 2, 3])  # wrong on the second


def test_an_operating_point_mixes_student_and_teacher_labels():
    point = operating_point("x", np.array([True, True, False, False]), STUDENT, TEACHER, GOLD)
    assert point.share == 0.5
    assert point.accuracy == 1.0  # kept: both right; escalated: the teacher is right on both
    assert point.kept_precision == 1.0
    everything = operating_point("y", np.ones(4, bool), STUDENT, TEACHER, GOLD)
    assert (everything.share, everything.accuracy, everything.kept_precision) == (0.0, 0.5, 0.5)
    nothing = operating_point("z", np.zeros(4, bool), STUDENT, TEACHER, GOLD)
    assert (nothing.accuracy, nothing.kept_precision) == (0.75, None)


def test_a_share_point_escalates_the_least_confident():
    confidence = np.array([0.9, 0.8, 0.2, 0.1])
    point = share_point(0.5, confidence, STUDENT, TEACHER, GOLD)
    assert point.share == 0.5 and point.accuracy == 1.0


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, 200_000)
    calibrated = rng.random(confidence.size) < confidence
    assert expected_calibration_error(confidence, calibrated) < 0.01
    overconfident = rng.random(confidence.size) < confidence * 0.5
    assert expected_calibration_error(confidence, overconfident) == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize(
    ("confidence", "correct", "expected"),
    [
        ([0.9, 0.8, 0.2, 0.1], [True, True, False, False], 1.0),  # errors least confident
        ([0.1, 0.2, 0.8, 0.9], [True, True, False, False], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [True, False, True, False], 0.5),  # ties count half
        ([0.9, 0.3, 0.6, 0.1], [True, True, False, False], 0.75),
        ([0.9, 0.8], [True, True], None),
    ],
)
def test_auroc_of_errors(confidence, correct, expected):
    result = auroc_of_errors(np.array(confidence), np.array(correct))
    assert result == (None if expected is None else pytest.approx(expected))

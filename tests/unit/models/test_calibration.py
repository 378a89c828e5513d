import numpy as np
import pytest

from sieve.models.calibration import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    log_probs_as_logits,
    negative_log_likelihood,
    softmax,
)

TRUE_TEMPERATURE = 2.5


def sampled_slice(
    count: int, classes: int, seed: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """True logits and labels drawn from their softmax: a perfectly calibrated slice."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(count, classes))
    probs = softmax(logits)
    cumulative = probs.cumsum(axis=1)
    draws = rng.random((count, 1))
    labels = np.minimum((cumulative < draws).sum(axis=1), classes - 1)
    return logits * scale, labels


def test_fit_recovers_a_known_temperature():
    # An over-confident model: its logits are the true ones times 2.5.
    logits, labels = sampled_slice(20_000, 10, seed=7, scale=TRUE_TEMPERATURE)
    assert fit_temperature(logits, labels) == pytest.approx(TRUE_TEMPERATURE, rel=0.04)


def test_fit_recovers_an_under_confident_temperature():
    logits, labels = sampled_slice(20_000, 10, seed=8, scale=0.5)
    assert fit_temperature(logits, labels) == pytest.approx(0.5, rel=0.04)


def test_fitted_temperature_minimises_the_nll():
    logits, labels = sampled_slice(3_000, 6, seed=9, scale=TRUE_TEMPERATURE)
    fitted = fit_temperature(logits, labels)
    best = negative_log_likelihood(logits, labels, fitted)
    for nearby in (fitted * 0.95, fitted * 1.05, 1.0):
        assert best < negative_log_likelihood(logits, labels, nearby)


def test_temperature_scaling_reduces_ece_of_an_over_confident_model():
    logits, labels = sampled_slice(20_000, 10, seed=11, scale=TRUE_TEMPERATURE)
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(
        apply_temperature(logits, fit_temperature(logits, labels)), labels
    )
    assert before > 0.1
    assert after < 0.02


def test_scaling_keeps_the_argmax():
    logits, _ = sampled_slice(500, 5, seed=12)
    for temperature in (0.1, 1.0, 7.0):
        scaled = apply_temperature(logits, temperature)
        assert np.array_equal(scaled.argmax(axis=1), logits.argmax(axis=1))


def test_apply_temperature_is_stable_for_huge_logits():
    probs = apply_temperature(np.array([[1e4, 0.0, -1e4], [5e3, 5e3, 0.0]]), 1.0)
    assert probs.dtype == np.float32
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probs[1], [0.5, 0.5, 0.0], atol=1e-6)


def test_temperature_one_is_plain_softmax():
    logits = np.array([[2.0, 1.0, 0.0]])
    expected = np.exp([2.0, 1.0, 0.0]) / np.exp([2.0, 1.0, 0.0]).sum()
    np.testing.assert_allclose(apply_temperature(logits, 1.0)[0], expected, rtol=1e-6)


def test_log_probabilities_fit_the_same_temperature_as_logits():
    logits, labels = sampled_slice(2_000, 8, seed=13, scale=TRUE_TEMPERATURE)
    from_probs = fit_temperature(log_probs_as_logits(softmax(logits)), labels)
    assert from_probs == pytest.approx(fit_temperature(logits, labels), rel=1e-3)


def test_a_slice_the_model_gets_all_right_stops_at_the_lower_bound():
    logits = np.array([[5.0, 0.0], [0.0, 5.0]] * 10)
    labels = np.array([0, 1] * 10)
    assert fit_temperature(logits, labels) == pytest.approx(MIN_TEMPERATURE, rel=1e-3)


def test_a_slice_of_coin_flips_stops_at_the_upper_bound():
    # The same logits, each seen with both labels: the best probabilities are uniform.
    logits = np.array([[3.0, 0.0], [3.0, 0.0]])
    labels = np.array([0, 1])
    assert fit_temperature(logits, labels) == pytest.approx(MAX_TEMPERATURE, rel=1e-3)


def test_ece_by_hand():
    # Bin (0.8, 0.867]: two items at 0.85, one right → |0.5 − 0.85| · 2/3.
    # Bin (0.933, 1]: one item at 1.0, right → 0.
    probs = np.array([[0.85, 0.15], [0.85, 0.15], [1.0, 0.0]])
    labels = np.array([0, 1, 0])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.35 * 2 / 3)


def test_ece_is_zero_when_confidence_matches_accuracy():
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    assert expected_calibration_error(probs, np.array([0, 0, 1, 1])) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("scores", "labels"),
    [
        (np.zeros((3, 2)), np.array([0, 1])),  # length mismatch
        (np.zeros((2, 2)), np.array([0, 2])),  # index outside the labels
        (np.zeros((2, 2)), np.array([0.0, 1.0])),  # float indices
        (np.zeros((0, 2)), np.zeros(0, dtype=int)),  # empty
        (np.array([[np.nan, 0.0]]), np.array([0])),  # not finite
        (np.zeros(3), np.array([0, 0, 0])),  # not 2-D
    ],
)
def test_bad_inputs_are_refused(scores, labels):
    with pytest.raises(ValueError):
        fit_temperature(scores, labels)
    with pytest.raises(ValueError):
        expected_calibration_error(scores, labels)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_temperatures_are_refused(temperature):
    with pytest.raises(ValueError):
        apply_temperature(np.zeros((1, 2)), temperature)

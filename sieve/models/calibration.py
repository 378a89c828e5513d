"""Temperature scaling (Guo et al., 2017) and the expected calibration error, in numpy.

An n-gram student trained to low loss is over-confident: its top probability says 0.99
where it is right 90% of the time. Temperature scaling divides the logits by one scalar
``T`` fitted on held-out data (minimum negative log-likelihood); ``T > 1`` softens the
probabilities. It never changes the argmax, so accuracy and F1 are untouched and only the
confidences that routing thresholds compare against move.

Negative log-likelihood is convex in ``1/T``, hence unimodal in ``log T``: a golden-section
search over ``log T`` in a bracket finds the minimum without gradients or scipy.
"""

from __future__ import annotations

import math

import numpy as np

MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 20.0
DEFAULT_ECE_BINS = 15

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618…
# log(T) precision of the search: T is found within ~0.01% of the bracketed minimum.
_LOG_TOLERANCE = 1e-4
# Smallest positive float32 normal: log-probabilities of underflowed entries stay finite.
_TINY_PROB = float(np.finfo(np.float32).tiny)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for any finite logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    exp = np.exp(z)
    probs: np.ndarray = exp / exp.sum(axis=-1, keepdims=True)
    return probs


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities softmax(logits / T) as float32 [N, K], the dtype the classifier serves."""
    _check_temperature(temperature)
    return softmax(np.asarray(logits, dtype=np.float64) / temperature).astype(np.float32)


def log_probs_as_logits(probs: np.ndarray) -> np.ndarray:
    """Logits recovered from probabilities, up to a per-row constant softmax ignores.

    For callers that only have ``predict_proba``; the served graph's ``logits`` output is
    exact and to be preferred. Probabilities that underflowed to 0 become log(tiny).
    """
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), _TINY_PROB, None))


def negative_log_likelihood(
    logits: np.ndarray, y_true_idx: np.ndarray, temperature: float = 1.0
) -> float:
    """Mean −log p(true label) under softmax(logits / T)."""
    _check_temperature(temperature)
    z, y = _checked(logits, y_true_idx)
    scaled = z / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(y)), y]))


def fit_temperature(
    logits: np.ndarray,
    y_true_idx: np.ndarray,
    *,
    min_temperature: float = MIN_TEMPERATURE,
    max_temperature: float = MAX_TEMPERATURE,
) -> float:
    """The temperature in [min, max] that minimises the NLL of ``y_true_idx``.

    ``logits`` float [N, K]; ``y_true_idx`` int [N], indices into the K labels. A result
    at a bound means the optimum lies outside the bracket (e.g. a slice the model gets
    all right pushes T towards 0): the bracket keeps such a slice from producing an
    absurd temperature.
    """
    if not 0.0 < min_temperature < max_temperature or not math.isfinite(max_temperature):
        raise ValueError(f"bad temperature bracket [{min_temperature}, {max_temperature}]")
    z, y = _checked(logits, y_true_idx)

    def loss(log_t: float) -> float:
        return negative_log_likelihood(z, y, math.exp(log_t))

    low, high = math.log(min_temperature), math.log(max_temperature)
    left = high - _GOLDEN * (high - low)
    right = low + _GOLDEN * (high - low)
    loss_left, loss_right = loss(left), loss(right)
    while high - low > _LOG_TOLERANCE:
        if loss_left <= loss_right:
            high, right, loss_right = right, left, loss_left
            left = high - _GOLDEN * (high - low)
            loss_left = loss(left)
        else:
            low, left, loss_left = left, right, loss_right
            right = low + _GOLDEN * (high - low)
            loss_right = loss(right)
    # A loss still falling at a bracket end converges onto that end.
    return float(min(max(math.exp((low + high) / 2), min_temperature), max_temperature))


def expected_calibration_error(
    probs: np.ndarray, y_true_idx: np.ndarray, bins: int = DEFAULT_ECE_BINS
) -> float:
    """Top-label ECE: Σ_b (|b|/N)·|accuracy(b) − mean confidence(b)| over ``bins``
    equal-width confidence bins (lower edge excluded, upper included)."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    p, y = _checked(probs, y_true_idx)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], confidence, side="left")
    accuracy_sum = np.bincount(which, weights=correct, minlength=bins)
    confidence_sum = np.bincount(which, weights=confidence, minlength=bins)
    return float(np.abs(accuracy_sum - confidence_sum).sum() / len(y))


def _checked(scores: np.ndarray, y_true_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y_true_idx)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"expected a non-empty [N, K] array, got shape {z.shape}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"expected {z.shape[0]} label indices, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"label indices must be integers, got {y.dtype}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"label indices outside [0, {z.shape[1]})")
    if not np.isfinite(z).all():
        raise ValueError("scores must be finite")
    return z, y.astype(np.int64)


def _check_temperature(temperature: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0.0):
        raise ValueError(f"temperature must be a positive finite number, not {temperature}")

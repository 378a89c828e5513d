"""Drift signals on synthetic windows: the same distribution gives no alert, a shifted one
alerts on the signal that moved, too few samples give no verdict."""

from __future__ import annotations

import numpy as np
import pytest

from sieve.core.settings import DriftSettings
from sieve.routing.drift import (
    DriftSignal,
    DriftWindows,
    Observation,
    compare,
    confidence_psi,
    escalation_rate_shift,
    label_mix_distance,
)

LABELS = [f"label_{i}" for i in range(77)]
SETTINGS = DriftSettings(window=2_000, min_samples=500)


def window(
    seed: int,
    n: int = 2_000,
    *,
    escalated: float = 0.1,
    labels: list[str] = LABELS,
    weights: np.ndarray | None = None,
    confidence: tuple[float, float] = (8.0, 2.0),
) -> list[Observation]:
    """``n`` decisions: labels drawn with ``weights`` (uniform by default), a Beta
    confidence, escalated with probability ``escalated``."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=n, p=weights)
    confidences = rng.beta(*confidence, size=n)
    escalations = rng.random(n) < escalated
    return [
        Observation(labels[i], float(c), bool(e))
        for i, c, e in zip(chosen, confidences, escalations, strict=True)
    ]


def by_signal(verdict):
    return {signal.signal: signal for signal in verdict}


def test_two_samples_of_one_distribution_raise_no_alert():
    for seed in range(5):
        verdict = by_signal(compare(window(seed), window(seed + 100), SETTINGS))
        assert not any(signal.alert for signal in verdict.values())
        for signal in verdict.values():
            assert signal.score is not None and signal.noise is not None
            # The noise estimate is the right size: the score is near it, well below the bound.
            assert signal.score < 3 * signal.noise + 0.01
        assert verdict[DriftSignal.LABEL_MIX].noise == pytest.approx(0.11, abs=0.01)


def test_a_higher_escalation_rate_alerts_on_that_signal_only():
    verdict = by_signal(compare(window(1), window(2, escalated=0.2), SETTINGS))
    assert verdict[DriftSignal.ESCALATION_RATE].alert
    assert verdict[DriftSignal.ESCALATION_RATE].score == pytest.approx(0.1, abs=0.03)
    assert not verdict[DriftSignal.LABEL_MIX].alert
    assert not verdict[DriftSignal.CONFIDENCE].alert


def test_a_new_label_mix_alerts():
    # Half the traffic moves onto five labels (a new product, an outage...).
    weights = np.full(len(LABELS), 0.5 / (len(LABELS) - 5))
    weights[:5] = 0.1
    verdict = by_signal(compare(window(1), window(2, weights=weights), SETTINGS))
    assert verdict[DriftSignal.LABEL_MIX].alert
    assert verdict[DriftSignal.LABEL_MIX].score == pytest.approx(0.435, abs=0.05)
    assert not verdict[DriftSignal.ESCALATION_RATE].alert


def test_lower_confidence_alerts():
    # Mean confidence 0.8 -> 0.6: texts the model has not seen the like of.
    verdict = by_signal(compare(window(1), window(2, confidence=(6.0, 4.0)), SETTINGS))
    assert verdict[DriftSignal.CONFIDENCE].alert
    assert verdict[DriftSignal.CONFIDENCE].score > 0.5


def test_too_few_samples_give_no_verdict():
    verdict = compare(window(1), window(2, n=499, escalated=0.9), SETTINGS)
    assert all(signal.score is None and not signal.alert for signal in verdict)
    assert [s.signal for s in verdict] == list(DriftSignal)
    assert {(s.reference_messages, s.current_messages) for s in verdict} == {(2_000, 499)}
    assert all(s.score is None for s in compare([], [], SETTINGS))


def test_signal_figures_on_hand_made_windows():
    assert escalation_rate_shift([True, False, False, False], [True, True, False, False])[
        0
    ] == pytest.approx(0.25)
    assert label_mix_distance(["a", "a", "b", "b"], ["a", "a", "a", "c"])[0] == pytest.approx(0.5)
    assert label_mix_distance(["a", "b"], ["b", "a"])[0] == 0.0
    same = list(np.linspace(0.05, 0.95, 1_000))
    assert confidence_psi(same, same)[0] == pytest.approx(0.0, abs=1e-12)
    # A confident model piles up at 1.0: the repeated cuts merge (three bins are left:
    # up to 0.95, to 1.0, above), nothing divides by zero.
    piled = [1.0] * 900 + [0.5] * 100
    psi, noise = confidence_psi(piled, [0.5] * 1_000)
    assert psi > 1.0 and np.isfinite(psi) and noise == pytest.approx(2 * 2 / 1_000)


def test_windows_tumble_against_the_first_or_the_previous_window():
    settings = DriftSettings(window=100, min_samples=50)
    calm, busy = window(1, n=100, escalated=0.0), window(2, n=100, escalated=1.0)

    first = DriftWindows(settings)
    assert first.add(calm) == []  # the reference
    assert first.add(busy[:60]) == []  # not a full window yet
    (verdict,) = first.add(busy[60:] + busy[:10])
    assert by_signal(verdict)[DriftSignal.ESCALATION_RATE].score == 1.0
    (again,) = first.add(busy[10:])  # still against the first window
    assert by_signal(again)[DriftSignal.ESCALATION_RATE].alert

    previous = DriftWindows(settings.model_copy(update={"reference": "previous"}))
    previous.add(calm)
    (changed,) = previous.add(busy)
    assert by_signal(changed)[DriftSignal.ESCALATION_RATE].alert
    (steady,) = previous.add(busy)  # busy against busy: no change any more
    assert by_signal(steady)[DriftSignal.ESCALATION_RATE].score == 0.0

    first.restart()  # another model: a new reference, no verdict on its first window
    assert first.add(busy) == []
    (after,) = first.add(busy)
    assert not by_signal(after)[DriftSignal.ESCALATION_RATE].alert


def test_min_samples_cannot_exceed_the_window():
    with pytest.raises(ValueError, match="min_samples must not exceed window"):
        DriftSettings(window=100, min_samples=200)

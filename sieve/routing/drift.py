"""Drift: has the traffic the model decides moved since a reference window?

Three signals compare a *current* window of model decisions with a *reference* window
(by default the first window the active model decided: the traffic it was promoted on):

- ``escalation_rate``: the absolute difference of the share escalated (0..1);
- ``label_mix``: the total variation distance between the predicted-label distributions,
  half the sum of absolute differences (0..1: the share of traffic that changed label);
- ``confidence``: the population stability index (PSI) of the top probability over ten
  bins cut at the reference's deciles (0 = the same; 0.1 "some", 0.25 "major" shift by
  the usual rule of thumb).

Each is compared with its bound (``DriftSettings``): above it, the signal alerts. Below
``min_samples`` messages in either window there is no verdict (score None). Every score
comes with ``noise``, about what it would be *without* drift given the two windows' sizes,
so a bound can be chosen above it: two samples of one distribution differ by chance, and
with many labels and a small window the label mix differs a lot (77 labels, 1,000 messages
a window: a TVD of ~0.15 from sampling alone).

Rows a routing rule decided are not model decisions and stay out of both windows.
Pure functions and a tumbling window keeper (``DriftWindows``); the stream worker and the
admin API's /stats feed them (sieve.workers.stream.drift_watch, sieve.store.drift).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from sieve.core.settings import DriftReference, DriftSettings

CONFIDENCE_BINS = 10
# PSI takes a log of each bin's share: an empty bin counts as half a message.
_EMPTY_BIN = 0.5


class DriftSignal(StrEnum):
    ESCALATION_RATE = "escalation_rate"
    LABEL_MIX = "label_mix"
    CONFIDENCE = "confidence"


@dataclass(frozen=True)
class Observation:
    """One model decision: its predicted label, top probability, and whether it escalated."""

    label: str | None
    confidence: float
    escalated: bool


@dataclass(frozen=True)
class SignalDrift:
    signal: DriftSignal
    score: float | None  # None: too few samples for a verdict
    bound: float
    noise: float | None  # about the score expected without drift
    reference_messages: int
    current_messages: int

    @property
    def alert(self) -> bool:
        return self.score is not None and self.score > self.bound


def compare(
    reference: Sequence[Observation], current: Sequence[Observation], settings: DriftSettings
) -> list[SignalDrift]:
    """The three signals of ``current`` against ``reference``, in DriftSignal order."""
    sizes = (len(reference), len(current))
    enough = min(sizes) >= settings.min_samples and min(sizes) > 0
    bounds = {
        DriftSignal.ESCALATION_RATE: settings.escalation_rate_bound,
        DriftSignal.LABEL_MIX: settings.label_mix_bound,
        DriftSignal.CONFIDENCE: settings.confidence_bound,
    }
    scores: dict[DriftSignal, tuple[float, float]] = {}
    if enough:
        scores[DriftSignal.ESCALATION_RATE] = escalation_rate_shift(
            [o.escalated for o in reference], [o.escalated for o in current]
        )
        scores[DriftSignal.LABEL_MIX] = label_mix_distance(
            [o.label for o in reference], [o.label for o in current]
        )
        scores[DriftSignal.CONFIDENCE] = confidence_psi(
            [o.confidence for o in reference], [o.confidence for o in current]
        )
    results = []
    for signal in DriftSignal:
        score, noise = scores.get(signal, (None, None))
        results.append(SignalDrift(signal, score, bounds[signal], noise, *sizes))
    return results


def escalation_rate_shift(
    reference: Sequence[bool], current: Sequence[bool]
) -> tuple[float, float]:
    """(|rate_current - rate_reference|, its expected value without drift)."""
    n1, n2 = len(reference), len(current)
    rate1, rate2 = sum(reference) / n1, sum(current) / n2
    pooled = (sum(reference) + sum(current)) / (n1 + n2)
    noise = math.sqrt(2 / math.pi * pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return abs(rate2 - rate1), noise


def label_mix_distance(
    reference: Sequence[str | None], current: Sequence[str | None]
) -> tuple[float, float]:
    """(total variation distance between the label distributions, its expected value
    without drift: half the sum over labels of E|p1 - p2| under the pooled shares)."""
    n1, n2 = len(reference), len(current)
    counts1, counts2 = Counter(reference), Counter(current)
    labels = set(counts1) | set(counts2)
    distance = 0.5 * sum(abs(counts1[k] / n1 - counts2[k] / n2) for k in labels)
    spread = math.sqrt(2 / math.pi * (1 / n1 + 1 / n2))
    pooled = [(counts1[k] + counts2[k]) / (n1 + n2) for k in labels]
    noise = 0.5 * spread * sum(math.sqrt(p * (1 - p)) for p in pooled)
    return distance, noise


def confidence_psi(
    reference: Sequence[float], current: Sequence[float], bins: int = CONFIDENCE_BINS
) -> tuple[float, float]:
    """(PSI of ``current`` against ``reference`` over bins cut at the reference's
    quantiles, its expected value without drift: (bins - 1) * (1/n1 + 1/n2))."""
    ref, cur = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    # A confident model piles its top probabilities at 1.0: repeated cuts merge.
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    count1 = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    count2 = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    share1 = (count1 + _EMPTY_BIN) / (len(ref) + _EMPTY_BIN * len(count1))
    share2 = (count2 + _EMPTY_BIN) / (len(cur) + _EMPTY_BIN * len(count2))
    psi = float(np.sum((share2 - share1) * np.log(share2 / share1)))
    noise = (len(count1) - 1) * (1 / len(ref) + 1 / len(cur))
    return psi, noise


class DriftWindows:
    """Tumbling windows of ``settings.window`` model decisions. The first full window
    after a (re)start or model swap is the reference; each later full window is compared
    with it (``reference: first``) or with the window before (``previous``)."""

    def __init__(self, settings: DriftSettings) -> None:
        self._settings = settings
        self._reference: list[Observation] | None = None
        self._current: list[Observation] = []

    def restart(self) -> None:
        """Another model: its decisions are not comparable with the last one's."""
        self._reference, self._current = None, []

    def add(self, observations: Sequence[Observation]) -> list[list[SignalDrift]]:
        """Take a batch's decisions; one comparison per window completed by them."""
        verdicts = []
        for observation in observations:
            self._current.append(observation)
            if len(self._current) < self._settings.window:
                continue
            if self._reference is None:
                self._reference = self._current
            else:
                verdicts.append(compare(self._reference, self._current, self._settings))
                if self._settings.reference == DriftReference.PREVIOUS:
                    self._reference = self._current
            self._current = []
        return verdicts

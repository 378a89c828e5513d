"""The share budget: escalate about a target share of recent traffic (RouteLLM-style), the
quantile of recent top confidences; when it applies (a warm model), and the window a newly
swapped-in model starts from. Recomputed by the stream worker, unlike the precision
thresholds (sieve.routing.thresholds) that retraining fits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from sieve.routing.thresholds import NEVER_ACCEPT, RoutingThresholds

DEFAULT_RECENT_CAPACITY = 5_000
# Fewer recent confidences than this make a share threshold too noisy to use.
DEFAULT_MIN_SHARE_SAMPLES = 200


def threshold_for_share(confidences: np.ndarray, target_llm_share: float) -> float:
    """The threshold ``t`` such that about ``target_llm_share`` of ``confidences`` are
    below it (and so escalate): the k-th smallest value, k = round(share · n).

    Ties at ``t`` all stay above it, so a distribution with a heavy atom (e.g. many
    confidences of exactly 1.0) can escalate less than the target.
    """
    if not 0.0 <= target_llm_share <= 1.0:
        raise ValueError(f"target_llm_share must be in [0, 1], not {target_llm_share}")
    values = np.asarray(confidences, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no confidences to take a share of")
    rank = round(target_llm_share * values.size)
    if rank <= 0:
        return 0.0
    if rank >= values.size:
        return NEVER_ACCEPT
    return float(np.partition(values, rank)[rank])


def gate_share(target_llm_share: float, exploration_rate: float) -> float:
    """The share the confidence gate must escalate so that, with exploration sending
    ``exploration_rate`` of the remaining messages too, the total is the target:
    g + (1 − g)·e = target."""
    if not 0.0 <= exploration_rate < 1.0:
        raise ValueError(f"exploration_rate must be in [0, 1), not {exploration_rate}")
    return max(0.0, (target_llm_share - exploration_rate) / (1.0 - exploration_rate))


def share_budget_applies(
    target_llm_share: float | None,
    thresholds: RoutingThresholds | None,
    share_after_labels: int,
) -> bool:
    """A target LLM share routes only a model that has learned enough: trained on at least
    ``share_after_labels`` labels. Before that the budget would hand most traffic to a
    student that has seen a few examples per label and starve it of the labels it needs
    (the demo with a 10% budget from the start: 44.8% accuracy against 80.2% LLM only).
    0 applies the budget to any model, even one whose training size is unknown."""
    if target_llm_share is None:
        return False
    if share_after_labels == 0:
        return True
    known = thresholds.training_labels if thresholds is not None else None
    return known is not None and known >= share_after_labels


def swap_window(
    kept_confidences: np.ndarray, escalated_count: int, slice_quantiles: Sequence[float]
) -> np.ndarray:
    """What a newly swapped-in model's share window starts from: its confidences on the
    latest traffic, each part scored out of sample. The recent messages the previous
    model kept were never labeled, so the new model scores them fresh; the ones it
    escalated were labeled by the LLM and may be in the new model's training data, so
    they are stood in for by as many values spread over the model's held-out slice (the
    escalated kind of message, never trained on). Rescoring all recent texts sent 18-20%
    to the LLM for a 15% target (in-sample texts score high); the slice alone, 9-10%."""
    kept = np.asarray(kept_confidences, dtype=np.float64).ravel()
    if escalated_count <= 0 or len(slice_quantiles) == 0:
        return kept
    levels = np.linspace(0.0, 1.0, len(slice_quantiles))
    stand_ins = np.interp(
        (np.arange(escalated_count) + 0.5) / escalated_count, levels, np.sort(slice_quantiles)
    )
    return np.concatenate([kept, stand_ins])


class RecentConfidences:
    """A fixed-capacity ring of the latest top confidences, for the share threshold.

    Owned by one stream worker loop (not thread-safe). Clear it when the model changes:
    another model's confidences follow another distribution.
    """

    def __init__(self, capacity: int = DEFAULT_RECENT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._values = np.empty(capacity, dtype=np.float64)
        self._next = 0  # where the next value goes
        self._size = 0

    @property
    def capacity(self) -> int:
        return int(self._values.size)

    def __len__(self) -> int:
        return self._size

    def add(self, confidences: Iterable[float] | np.ndarray) -> None:
        """Append values in order; beyond capacity the oldest are overwritten. Non-finite
        values are dropped: one NaN would poison every quantile taken afterwards."""
        batch = (
            np.fromiter(confidences, dtype=np.float64)
            if not isinstance(confidences, np.ndarray)
            else np.asarray(confidences, dtype=np.float64).ravel()
        )
        batch = batch[np.isfinite(batch)][-self.capacity :]
        slots = (self._next + np.arange(batch.size)) % self.capacity
        self._values[slots] = batch
        self._next = (self._next + batch.size) % self.capacity
        self._size = min(self._size + batch.size, self.capacity)

    def values(self) -> np.ndarray:
        """A copy of the held values, oldest first."""
        if self._size < self.capacity:
            return self._values[: self._size].copy()
        return np.roll(self._values, -self._next)

    def clear(self) -> None:
        self._next = 0
        self._size = 0

    def warm_start(self, quantiles: Sequence[float], count: int) -> None:
        """Start over from a distribution known in advance — the new model's confidences
        on its evaluation slice — as ``count`` values evenly spread over its quantiles, so
        a share threshold exists from the first batch after a swap. Recent traffic pushes
        them out as it arrives. Without quantiles (an older model), just clear."""
        self.clear()
        if len(quantiles) == 0 or count <= 0:
            return
        levels = np.linspace(0.0, 1.0, len(quantiles))
        self.add(np.interp(np.linspace(0.0, 1.0, count), levels, np.sort(quantiles)))

    def threshold_for_share(
        self, target_llm_share: float, min_samples: int = DEFAULT_MIN_SHARE_SAMPLES
    ) -> float | None:
        """The share threshold over the held values; None while fewer than
        ``min_samples`` are held (the caller routes by precision meanwhile)."""
        if self._size < max(min_samples, 1):
            return None
        return threshold_for_share(self.values(), target_llm_share)

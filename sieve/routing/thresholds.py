"""Routing thresholds: fitted per label for a target precision, or for a target LLM share.

Two ways to choose the confidence below which a message goes to the LLM:

- **Precision** (fitted at retraining, stored in the artefact's ``meta.json`` under
  ``"routing"``): per predicted label, the lowest threshold at which the messages kept
  with that label reach ``target_precision`` on the evaluation slice. The slice's
  probabilities must be the calibrated ones the classifier serves (same temperature).
- **Share** (recomputed by the stream worker, ``sieve.routing.share``): the quantile of
  recent top confidences that sends about ``target_llm_share`` of the traffic to the LLM,
  as RouteLLM calibrates its threshold to a target strong-model share.

A message is escalated when its confidence is *below* the threshold; a threshold of
``NEVER_ACCEPT`` (above any probability) escalates every message it applies to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

NEVER_ACCEPT = 2.0
ROUTING_FORMAT_VERSION = 1
# How finely retraining records the evaluation slice's confidence distribution.
CONFIDENCE_QUANTILES = 201


def precision_threshold(
    confidences: np.ndarray, correct: np.ndarray, target_precision: float
) -> float:
    """The lowest observed confidence ``t`` such that the items with confidence ≥ ``t``
    have precision ≥ ``target_precision``; ``NEVER_ACCEPT`` when no ``t`` reaches it.

    The lowest such ``t`` keeps the most items: the target is a floor on precision and
    coverage is what is maximised under it. Candidates are the observed confidences (the
    tightest values the slice supports), so a higher target never gives a lower ``t``.
    """
    if not 0.0 <= target_precision <= 1.0:
        raise ValueError(f"target_precision must be in [0, 1], not {target_precision}")
    conf = np.asarray(confidences, dtype=np.float64)
    hit = np.asarray(correct, dtype=bool)
    if conf.shape != hit.shape or conf.ndim != 1:
        raise ValueError(f"shapes differ: confidences {conf.shape}, correct {hit.shape}")
    if conf.size == 0:
        return NEVER_ACCEPT
    order = np.argsort(-conf, kind="stable")
    conf, hit = conf[order], hit[order]
    kept = np.arange(1, conf.size + 1)
    hits = np.cumsum(hit)
    # A threshold keeps a whole group of tied confidences: only a group's last row counts.
    group_end = np.append(conf[1:] < conf[:-1], True)
    # Integer-exact comparison of hits/kept ≥ target, up to float rounding of the target.
    reaches = (hits >= target_precision * kept - 1e-9) & group_end
    if not reaches.any():
        return NEVER_ACCEPT
    return float(conf[np.flatnonzero(reaches)[-1]])


def per_label_thresholds(
    probs: np.ndarray,
    y_true_idx: np.ndarray,
    labels: Sequence[str],
    target_precision: float,
    min_support: int,
) -> dict[str, float]:
    """A threshold for every label, fitted on a (calibrated) evaluation slice.

    Support is the number of slice items the model *predicts* as the label (precision
    is measured over them). A label with fewer than ``min_support`` gets the global
    threshold: the one that reaches the target over all predictions pooled. The fallback
    is the pooled estimate rather than "always escalate" because early in the loop most
    of Banking77's 77 labels have a handful of evaluation items, and escalating all of
    them would keep the LLM share near 100%; the pooled threshold still holds the
    target precision on average. A label with enough support that cannot reach the
    target gets ``NEVER_ACCEPT``: it is measured to be unreliable.
    """
    if min_support < 1:
        raise ValueError(f"min_support must be at least 1, not {min_support}")
    confidence, predicted, correct = top1(probs, y_true_idx, len(labels))
    fallback = precision_threshold(confidence, correct, target_precision)
    thresholds: dict[str, float] = {}
    for index, label in enumerate(labels):
        rows = predicted == index
        if int(rows.sum()) < min_support:
            thresholds[label] = fallback
        else:
            thresholds[label] = precision_threshold(
                confidence[rows], correct[rows], target_precision
            )
    return thresholds


def global_threshold(probs: np.ndarray, y_true_idx: np.ndarray, target_precision: float) -> float:
    """One threshold over all predictions pooled (the fallback of ``per_label_thresholds``)."""
    probs = np.asarray(probs)
    confidence, _, correct = top1(probs, y_true_idx, probs.shape[-1])
    return precision_threshold(confidence, correct, target_precision)


class PrecisionBasis(StrEnum):
    """What the thresholds' precision was measured against."""

    GOLD = "gold"  # the registered human gold set
    TEACHER = "teacher"  # the LLM's labels, corrected for the LLM's estimated accuracy


@dataclass(frozen=True)
class RoutingThresholds:
    """What retraining fitted for one model version; ``meta.json`` holds it as "routing".

    ``temperature`` is the one the classifier applies to its logits before routing: the
    thresholds were fitted on probabilities scaled by it and are only valid with it.
    """

    per_label: Mapping[str, float]
    global_threshold: float
    temperature: float = 1.0
    target_precision: float | None = None
    min_support: int | None = None
    # The slice's top confidences at evenly spaced quantiles (0 to 1): the stream worker's
    # share threshold starts from them after a swap.
    confidence_quantiles: tuple[float, ...] = ()
    # How the precision was measured, and the LLM accuracy used (estimated or set).
    basis: PrecisionBasis | None = None
    teacher_accuracy: float | None = None
    # Nearest-training-example similarity below which a message is "unseen"; None: no rule.
    min_similarity: float | None = None
    # How many labels the model was trained on: the share budget waits for enough.
    training_labels: int | None = None
    format_version: int = ROUTING_FORMAT_VERSION

    def __post_init__(self) -> None:
        # A private copy: a caller's dict changed later must not change routing.
        lookup = {str(label): float(value) for label, value in self.per_label.items()}
        for name, value in [*lookup.items(), ("global_threshold", self.global_threshold)]:
            if not (math.isfinite(value) and 0.0 <= value <= NEVER_ACCEPT):
                raise ValueError(f"threshold {name}={value} outside [0, {NEVER_ACCEPT}]")
        if not (math.isfinite(self.temperature) and self.temperature > 0.0):
            raise ValueError(f"temperature must be positive and finite, not {self.temperature}")
        object.__setattr__(self, "per_label", lookup)
        quantiles = tuple(float(value) for value in self.confidence_quantiles)
        if not all(0.0 <= value <= 1.0 for value in quantiles):
            raise ValueError("confidence_quantiles must lie in [0, 1]")
        object.__setattr__(self, "confidence_quantiles", quantiles)
        if self.min_similarity is not None and not -1.0 <= self.min_similarity <= 1.0:
            raise ValueError(f"min_similarity must lie in [-1, 1], not {self.min_similarity}")
        if self.basis is not None:
            object.__setattr__(self, "basis", PrecisionBasis(self.basis))

    def for_label(self, label: str) -> float:
        """The label's threshold; the global one for a label fitted without one."""
        return self.per_label.get(label, self.global_threshold)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "temperature": self.temperature,
            "global_threshold": self.global_threshold,
            "target_precision": self.target_precision,
            "min_support": self.min_support,
            "per_label": dict(sorted(self.per_label.items())),
            "confidence_quantiles": list(self.confidence_quantiles),
            "basis": None if self.basis is None else self.basis.value,
            "teacher_accuracy": self.teacher_accuracy,
            "min_similarity": self.min_similarity,
            "training_labels": self.training_labels,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingThresholds:
        """Inverse of ``to_dict``; ValueError for anything else."""
        try:
            version = int(data.get("format_version", ROUTING_FORMAT_VERSION))
            if version != ROUTING_FORMAT_VERSION:
                raise ValueError(f"unknown routing format_version {version}")
            per_label = data["per_label"]
            if not isinstance(per_label, Mapping):
                raise ValueError("per_label must be an object of label → threshold")
            precision = data.get("target_precision")
            support = data.get("min_support")
            basis = data.get("basis")
            return cls(
                per_label={str(k): float(v) for k, v in per_label.items()},
                global_threshold=float(data["global_threshold"]),
                temperature=float(data.get("temperature", 1.0)),
                target_precision=None if precision is None else float(precision),
                min_support=None if support is None else int(support),
                confidence_quantiles=tuple(data.get("confidence_quantiles", ())),
                basis=None if basis is None else PrecisionBasis(basis),
                teacher_accuracy=_optional_float(data.get("teacher_accuracy")),
                min_similarity=_optional_float(data.get("min_similarity")),
                training_labels=_optional_int(data.get("training_labels")),
                format_version=version,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad routing thresholds: {exc!r}") from exc


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def top1(
    probs: np.ndarray, y_true_idx: np.ndarray, label_count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confidence, predicted index, correct) per row, after shape checks."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true_idx)
    if p.ndim != 2 or p.shape[1] != label_count or p.shape[1] == 0:
        raise ValueError(f"expected probabilities [N, {label_count}], got shape {p.shape}")
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"expected {p.shape[0]} integer label indices, got {y.shape}")
    predicted = p.argmax(axis=1)
    return p.max(axis=1), predicted, predicted == y

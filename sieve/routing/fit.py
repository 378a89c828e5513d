"""What retraining fits for routing, and what "precision" means when the labels are an LLM's.

Precision is always meant against the truth. It is measured one of two ways:

1. **Gold** (``PrecisionBasis.GOLD``): with a registered human gold set of at least
   ``gold_min_items`` items, thresholds are fitted on the gold items: their labels are the
   truth, so the kept precision is measured, not estimated.
2. **Teacher** (``PrecisionBasis.TEACHER``): otherwise the only labels are the LLM's, and
   agreement with them is not precision: a student that is always right agrees with an
   80%-accurate teacher 80% of the time, so a 95% "precision" against its labels is
   unreachable and escalates everything (the old default did exactly that). When the two
   err independently, agreement on the kept items is about ``p · a`` (kept precision times
   the teacher's accuracy), so the thresholds are fitted for an agreement of
   ``target · â``.

``â``, the teacher's accuracy, is set by the operator when known, or estimated from anchor
points: the agreement on the candidate's most confident tenth of the held-out slice, where
the student is almost always right and a disagreement is almost always the teacher's error
(the anchor-point idea used to estimate label-noise rates, Patrini et al., 2017). Student
errors in that tenth pull the estimate down; errors that both make alike push it up.

The default target is halfway between ``â`` and 1: kept labels make at most half the
LLM's errors. A target of exactly ``â`` puts the threshold where an estimate that is a few
points off decides: offline on Banking77 (MiniLM head, 80% and 90% teachers) it kept
messages *less* accurate than the LLM in 3 of 6 checks; halfway kept them more accurate
in 6 of 6 from 1,000 labels on, and still kept more than half the traffic at 2,000.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from sieve.core.settings import RoutingSettings
from sieve.routing.thresholds import (
    CONFIDENCE_QUANTILES,
    NEVER_ACCEPT,
    PrecisionBasis,
    RoutingThresholds,
    global_threshold,
    per_label_thresholds,
    top1,
)

logger = logging.getLogger(__name__)

# The anchor points: this share of the slice's most confident items, at least MIN_ANCHORS.
ANCHOR_FRACTION = 0.1
MIN_ANCHORS = 30


def estimate_teacher_accuracy(
    confidence: np.ndarray,
    agree: np.ndarray,
    *,
    fraction: float = ANCHOR_FRACTION,
    min_items: int = MIN_ANCHORS,
) -> float | None:
    """The teacher's agreement with the student on the student's most confident items;
    None when the slice has fewer than ``min_items`` items (nothing to estimate from)."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(agree, dtype=bool)
    if conf.shape != hit.shape or conf.ndim != 1:
        raise ValueError(f"shapes differ: confidence {conf.shape}, agree {hit.shape}")
    if conf.size < min_items:
        return None
    count = max(min_items, round(fraction * conf.size))
    anchors = np.argsort(-conf, kind="stable")[:count]
    return float(hit[anchors].mean())


def default_target(teacher_accuracy: float) -> float:
    """Halfway between the teacher's accuracy and 1: half the teacher's errors."""
    return (1.0 + teacher_accuracy) / 2.0


def unseen_threshold(similarity: np.ndarray, quantile: float) -> float | None:
    """The ``quantile`` of held-out nearest-example similarities: held-out messages are
    of labels the model was trained on, so about ``quantile`` of familiar traffic falls
    below it. None when the rule is off or there is nothing to measure."""
    values = np.asarray(similarity, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if quantile <= 0.0 or values.size == 0:
        return None
    return float(np.clip(np.quantile(values, quantile), -1.0, 1.0))


def fit_routing(
    slice_probs: np.ndarray,
    slice_labels: np.ndarray,
    labels: Sequence[str],
    routing: RoutingSettings,
    *,
    temperature: float = 1.0,
    gold_probs: np.ndarray | None = None,
    gold_labels: np.ndarray | None = None,
    slice_similarity: np.ndarray | None = None,
    training_labels: int | None = None,
) -> RoutingThresholds:
    """Everything retraining stores for routing.

    ``slice_probs``: the held-out slice's probabilities (already scaled by
    ``temperature``); ``slice_labels``: the teacher's label indices for them.
    ``gold_probs``/``gold_labels``: the same for the human gold set, if any.
    ``slice_similarity``: each held-out item's similarity to its nearest training example.
    """
    confidence, _, agree = top1(slice_probs, slice_labels, len(labels))
    teacher = routing.teacher_accuracy or estimate_teacher_accuracy(confidence, agree)
    gold_count = 0 if gold_labels is None else len(gold_labels)
    use_gold = gold_probs is not None and gold_count >= routing.gold_min_items
    target = routing.target_precision
    if target is None and teacher is not None:
        target = default_target(teacher)
    if target is None or (teacher is None and not use_gold):
        # Too few held-out labels to say anything about precision: keep nothing.
        logger.warning("too few held-out labels to fit routing: every message escalates")
        per_label, pooled = dict.fromkeys(labels, NEVER_ACCEPT), NEVER_ACCEPT
        basis = None
    elif use_gold:
        assert gold_probs is not None and gold_labels is not None
        per_label = per_label_thresholds(
            gold_probs, gold_labels, labels, target, routing.min_label_support
        )
        pooled = global_threshold(gold_probs, gold_labels, target)
        basis = PrecisionBasis.GOLD
    else:
        assert teacher is not None
        agreement = min(1.0, target * teacher)
        per_label = per_label_thresholds(
            slice_probs, slice_labels, labels, agreement, routing.min_label_support
        )
        pooled = global_threshold(slice_probs, slice_labels, agreement)
        basis = PrecisionBasis.TEACHER
    levels = np.linspace(0.0, 1.0, CONFIDENCE_QUANTILES)
    quantiles = tuple(np.quantile(confidence, levels)) if confidence.size else ()
    similarity = None
    if slice_similarity is not None:
        similarity = unseen_threshold(slice_similarity, routing.unseen_quantile)
    logger.info(
        "routing fitted on %s: target precision %s, teacher accuracy %s, pooled threshold %.3f",
        basis.value if basis else "nothing",
        f"{target:.3f}" if target is not None else "-",
        f"{teacher:.3f}" if teacher is not None else "-",
        pooled,
    )
    return RoutingThresholds(
        per_label=per_label,
        global_threshold=pooled,
        temperature=temperature,
        target_precision=target,
        min_support=routing.min_label_support,
        confidence_quantiles=quantiles,
        basis=basis,
        teacher_accuracy=teacher,
        min_similarity=similarity,
        training_labels=training_labels,
    )

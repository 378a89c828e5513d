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
from dataclasses import dataclass

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

# The anchor points: this share of the slice's most confident items, and at least this
# many; a slice smaller than MIN_ANCHORS / ANCHOR_FRACTION gives no anchor estimate (the
# "top tenth" of a small slice reaches into the student's errors: 30 anchors of an
# 89-item slice put the teacher at 0.33 in the loop, where it was 0.80).
ANCHOR_FRACTION = 0.1
MIN_ANCHORS = 30
# Near-duplicate pairs: held-out messages whose nearest training example is at least this
# similar (cosine of sentence embeddings), and at least this many of them.
PAIR_SIMILARITY = 0.9
MIN_PAIRS = 30


@dataclass(frozen=True)
class Neighbours:
    """Per held-out message: the similarity of its nearest training example (sentence
    embeddings, cosine) and whether the teacher gave the two the same label."""

    similarity: np.ndarray
    same_label: np.ndarray


def estimate_teacher_accuracy(
    confidence: np.ndarray,
    agree: np.ndarray,
    *,
    fraction: float = ANCHOR_FRACTION,
    min_items: int = MIN_ANCHORS,
) -> float | None:
    """The teacher's agreement with the student on the student's most confident tenth;
    None when that tenth would hold fewer than ``min_items`` items."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(agree, dtype=bool)
    if conf.shape != hit.shape or conf.ndim != 1:
        raise ValueError(f"shapes differ: confidence {conf.shape}, agree {hit.shape}")
    count = round(fraction * conf.size)
    if count < min_items:
        return None
    anchors = np.argsort(-conf, kind="stable")[:count]
    return float(hit[anchors].mean())


def estimate_teacher_accuracy_from_pairs(
    similarity: np.ndarray,
    same_label: np.ndarray,
    *,
    min_similarity: float = PAIR_SIMILARITY,
    min_pairs: int = MIN_PAIRS,
) -> float | None:
    """The teacher's accuracy from near-duplicates, without the student: two paraphrases
    share their true label, and the teacher gives both the right one with probability
    ``a²``, so ``a ≈ √(agreement)`` over pairs at least ``min_similarity`` alike. Pairs
    whose true labels differ pull it down (offline on Banking77 with MiniLM at 0.9: 0.80
    for an 80% teacher, 0.87 for 90%, 0.68 for 65%). ``similarity``: each held-out
    message's similarity to its nearest training example; ``same_label``: whether the
    teacher labeled the two alike. None with fewer than ``min_pairs`` such pairs."""
    sim = np.asarray(similarity, dtype=np.float64)
    same = np.asarray(same_label, dtype=bool)
    if sim.shape != same.shape or sim.ndim != 1:
        raise ValueError(f"shapes differ: similarity {sim.shape}, same_label {same.shape}")
    close = sim >= min_similarity
    if int(close.sum()) < min_pairs:
        return None
    return float(np.sqrt(same[close].mean()))


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
    neighbours: Neighbours | None = None,
    training_labels: int | None = None,
) -> RoutingThresholds:
    """Everything retraining stores for routing.

    ``slice_probs``: the held-out slice's probabilities (already scaled by
    ``temperature``); ``slice_labels``: the teacher's label indices for them.
    ``gold_probs``/``gold_labels``: the same for the human gold set, if any.
    ``neighbours``: the slice's nearest training examples, when the model embeds texts.
    """
    confidence, _, agree = top1(slice_probs, slice_labels, len(labels))
    teacher = routing.teacher_accuracy or _estimate_teacher(confidence, agree, neighbours)
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
    if neighbours is not None:
        similarity = unseen_threshold(neighbours.similarity, routing.unseen_quantile)
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


def _estimate_teacher(
    confidence: np.ndarray, agree: np.ndarray, neighbours: Neighbours | None
) -> float | None:
    """The larger of the two estimates that exist: each errs low (student errors among
    the anchors; near-duplicates whose true labels differ), so the larger errs less."""
    estimates = [estimate_teacher_accuracy(confidence, agree)]
    if neighbours is not None:
        estimates.append(
            estimate_teacher_accuracy_from_pairs(neighbours.similarity, neighbours.same_label)
        )
    found = [value for value in estimates if value is not None]
    return max(found) if found else None

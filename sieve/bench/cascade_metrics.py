"""What `sieve bench cascade` measures on a phase of the stream, in numpy: the operating
points of a routing score (share, accuracy, kept precision), the ECE of the score and the
AUROC of "the student is wrong". Pure functions over arrays, so each is unit-tested.

Arrays per message: ``confidence`` (the routing score), ``student`` (its label index),
``teacher`` (the LLM's label index, what an escalated message ends with) and ``gold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OperatingPoint:
    name: str
    share: float  # escalated to the LLM
    accuracy: float  # of the final labels against gold
    kept_precision: float | None  # of the student's kept labels against gold


def operating_point(
    name: str, kept: np.ndarray, student: np.ndarray, teacher: np.ndarray, gold: np.ndarray
) -> OperatingPoint:
    """Kept messages end with the student's label, the others with the teacher's."""
    keep = np.asarray(kept, dtype=bool)
    final = np.where(keep, student, teacher)
    right = final == gold
    kept_right = (student == gold)[keep]
    return OperatingPoint(
        name=name,
        share=float(1.0 - keep.mean()) if keep.size else 0.0,
        accuracy=float(right.mean()) if right.size else 0.0,
        kept_precision=float(kept_right.mean()) if kept_right.size else None,
    )


def share_point(
    share: float,
    confidence: np.ndarray,
    student: np.ndarray,
    teacher: np.ndarray,
    gold: np.ndarray,
) -> OperatingPoint:
    """Escalate the ``share`` least confident messages (what a target LLM share does over
    a window of recent traffic)."""
    conf = np.asarray(confidence, dtype=np.float64)
    rank = round(share * conf.size)
    kept = np.ones(conf.size, dtype=bool)
    kept[np.argsort(conf, kind="stable")[:rank]] = False
    return operating_point(f"share {share:.0%}", kept, student, teacher, gold)


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> float:
    """Top-label ECE over equal-width bins: Σ (|b|/N)·|accuracy(b) − confidence(b)|."""
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    hit = np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        return 0.0
    which = np.minimum((conf * bins).astype(int), bins - 1)
    gap = np.bincount(which, weights=hit - conf, minlength=bins)
    return float(np.abs(gap).sum() / conf.size)


def auroc_of_errors(confidence: np.ndarray, correct: np.ndarray) -> float | None:
    """AUROC of ``1 − confidence`` for detecting the student's errors: the chance that a
    random wrong message scores less confident than a random right one (ties count half).
    None when the phase has no errors or nothing right."""
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=bool)
    wrong, right = conf[~hit], conf[hit]
    if wrong.size == 0 or right.size == 0:
        return None
    # Mann-Whitney U from ranks of the pooled confidences (average ranks for ties).
    pooled = np.concatenate([wrong, right])
    order = np.argsort(pooled, kind="stable")
    ranks = np.empty(pooled.size, dtype=np.float64)
    ranks[order] = np.arange(1, pooled.size + 1)
    _values, inverse = np.unique(pooled, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    ranks = (sums / counts)[inverse]
    u_right = ranks[wrong.size :].sum() - right.size * (right.size + 1) / 2.0
    return float(u_right / (wrong.size * right.size))

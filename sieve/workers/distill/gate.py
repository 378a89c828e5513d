"""The promotion gate: is the candidate model measurably worse than the active one?

The evaluation labels are mostly the LLM's (noisy), and a label has 20-30 of them, so one
example moves a label's F1 by ~0.04: a gate that compares point estimates refuses a better
model on noise and the student stops learning. Both models are scored on the SAME items,
so the comparison is paired, and the gate refuses only what a paired test calls worse:

1. Macro-F1: a paired bootstrap of the difference (candidate - active). Each round draws
   the evaluation items with replacement, the same draw for both models, and recomputes
   both macro-F1s from per-label confusion counts. Refuse when the whole two-sided
   ``confidence`` interval lies below ``-gate_f1_tolerance`` (a one-sided test at level
   (1 - confidence) / 2: 2.5% by default).
2. Per label: an exact one-sided McNemar test on the label's items (gold, candidate or
   active says that label). An item is an error for the label when exactly one of gold
   and prediction is the label (a miss or a wrong use); the test counts items only the
   candidate gets wrong (``lost``) against items only the active gets wrong (``gained``).
   Its margin grows as support shrinks by itself: 3 lost, 0 gained has p = 0.125.
   Across labels, Tarone's correction (Bonferroni over only the labels whose discordant
   count could reach significance at all) keeps the family-wise level at the same
   (1 - confidence) / 2. Refuse when any label is significantly worse, and name it.

Deterministic for a seed. Vectorised: 1,000 rounds over a few thousand items is a handful
of ``bincount`` calls, no Python loop per round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sieve.core.settings import RetrainSettings

# Rounds are drawn in chunks so memory stays bounded (rounds x items indices per chunk).
_MAX_DRAWS_PER_CHUNK = 2_000_000


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str


@dataclass(frozen=True)
class LabelTest:
    label: str
    lost: int  # items only the candidate gets wrong for this label
    gained: int  # items only the active model gets wrong for this label
    p_value: float


def promotion_gate(
    gold: Sequence[str],
    candidate: Sequence[str],
    active: Sequence[str] | None,
    labels: Sequence[str],
    config: RetrainSettings,
) -> GateResult:
    """Promote unless the candidate is measurably worse than the active model (module
    docstring); all three sequences are over the same evaluation items, in order."""
    if active is None:
        return GateResult(True, "no active model")
    y, c, a = _indices(labels, gold, candidate, active)
    n_labels = len(labels)
    alpha = (1.0 - config.gate_confidence) / 2.0
    candidate_f1, active_f1 = macro_f1(y, c, n_labels), macro_f1(y, a, n_labels)
    differences = bootstrap_f1_differences(
        y, c, a, n_labels, config.gate_bootstrap_rounds, config.seed
    )
    low, high = np.quantile(differences, [alpha, 1.0 - alpha])
    worse_overall = bool(high < -config.gate_f1_tolerance)
    summary = (
        f"macro-F1 {candidate_f1:.4f} vs active {active_f1:.4f}, difference "
        f"{candidate_f1 - active_f1:+.4f} [{config.gate_confidence:.0%} CI {low:+.4f}, {high:+.4f}]"
    )
    worse_labels = significantly_worse_labels(y, c, a, labels, alpha)
    if worse_labels:
        named = "; ".join(
            f"{test.label} ({test.lost} items lost, {test.gained} gained, p={test.p_value:.1e})"
            for test in worse_labels[:3]
        )
        verdict = "measurably worse, and" if worse_overall else "not measurably worse overall, but"
        return GateResult(False, f"{summary}: {verdict} worse on {named}")
    if worse_overall:
        return GateResult(False, f"{summary}: measurably worse")
    return GateResult(
        True, f"{summary}: {'measurably better' if low > 0 else 'not measurably worse'}"
    )


def macro_f1(gold: np.ndarray, predicted: np.ndarray, n_labels: int) -> float:
    """Macro-F1 as `sieve.models.evaluation.evaluate` computes it (mean over the labels
    that occur in gold or predictions)."""
    return float(_macro_f1_rows(gold[None, :], predicted[None, :], n_labels)[0])


def bootstrap_f1_differences(
    gold: np.ndarray,
    candidate: np.ndarray,
    active: np.ndarray,
    n_labels: int,
    rounds: int,
    seed: int,
) -> np.ndarray:
    """Macro-F1(candidate) - macro-F1(active) on ``rounds`` paired resamples of the items."""
    rng = np.random.default_rng(seed)
    size = len(gold)
    chunk = max(1, _MAX_DRAWS_PER_CHUNK // max(size, 1))
    differences = []
    for start in range(0, rounds, chunk):
        draw = rng.integers(0, size, size=(min(chunk, rounds - start), size))
        y = gold[draw]
        differences.append(
            _macro_f1_rows(y, candidate[draw], n_labels) - _macro_f1_rows(y, active[draw], n_labels)
        )
    return np.concatenate(differences)


def _macro_f1_rows(gold: np.ndarray, predicted: np.ndarray, n_labels: int) -> np.ndarray:
    """Macro-F1 of each row of (rounds x items) label indices, from confusion counts:
    row r's label k counts at position r * n_labels + k of one flat bincount."""
    rounds = gold.shape[0]
    offset = (np.arange(rounds) * n_labels)[:, None]
    flat = rounds * n_labels
    support = np.bincount((gold + offset).ravel(), minlength=flat)
    given = np.bincount((predicted + offset).ravel(), minlength=flat)
    hits = np.bincount((gold + offset)[gold == predicted], minlength=flat)
    denominator = (support + given).reshape(rounds, n_labels)
    f1 = np.divide(
        2.0 * hits.reshape(rounds, n_labels),
        denominator,
        out=np.zeros((rounds, n_labels)),
        where=denominator > 0,
    )
    present = denominator > 0
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def significantly_worse_labels(
    gold: np.ndarray,
    candidate: np.ndarray,
    active: np.ndarray,
    labels: Sequence[str],
    alpha: float,
) -> list[LabelTest]:
    """Labels on which the candidate makes significantly more errors (exact one-sided
    McNemar per label, Tarone-corrected across labels), most significant first."""
    n_labels = len(labels)
    lost = _errors_only_in(candidate, active, gold, n_labels)
    gained = _errors_only_in(active, candidate, gold, n_labels)
    discordant = lost + gained
    p_values = np.asarray(
        [sign_test_p(int(k), int(n)) for k, n in zip(lost, discordant, strict=True)]
    )
    threshold = alpha / tarone_count(discordant, alpha)
    worse = [
        LabelTest(labels[int(k)], int(lost[k]), int(gained[k]), float(p_values[k]))
        for k in np.flatnonzero((p_values <= threshold) & (lost > gained))
    ]
    return sorted(worse, key=lambda test: test.p_value)


def _errors_only_in(
    this: np.ndarray, other: np.ndarray, gold: np.ndarray, n_labels: int
) -> np.ndarray:
    """Per label, the items on which ``this`` model errs for the label and ``other`` does
    not. A wrong prediction is an error for two labels: the gold one (missed) and the
    predicted one (given wrongly). Where both models are wrong they both miss the gold
    label, and only a different wrong label counts."""
    this_wrong, other_wrong = gold != this, gold != other
    only = this_wrong & ~other_wrong
    different_mistake = this_wrong & other_wrong & (this != other)
    return (
        np.bincount(gold[only], minlength=n_labels)
        + np.bincount(this[only], minlength=n_labels)
        + np.bincount(this[different_mistake], minlength=n_labels)
    )


def sign_test_p(lost: int, discordant: int) -> float:
    """P(X >= lost) for X ~ Binomial(discordant, 1/2): the exact one-sided McNemar p-value
    (each discordant item equally likely to go either way if both models are as good).
    Exact integers: a label has at most a few hundred discordant items."""
    tail = sum(math.comb(discordant, k) for k in range(max(lost, 0), discordant + 1))
    return tail / 2**discordant


def tarone_count(discordant: np.ndarray, alpha: float) -> int:
    """Tarone's number of tests for a Bonferroni correction of discrete tests: the
    smallest K such that at most K labels could reach p <= alpha / K at all (a label with
    n discordant items cannot go below p = 0.5 ** n, so 0 to ~5 of them never count)."""
    smallest_p = np.sort(0.5 ** discordant.astype(np.float64))
    for k in range(1, len(smallest_p) + 1):
        if np.count_nonzero(smallest_p <= alpha / k) <= k:
            return k
    return max(len(smallest_p), 1)


def _indices(labels: Sequence[str], *columns: Sequence[str]) -> list[np.ndarray]:
    index = {label: position for position, label in enumerate(labels)}
    lengths = {len(column) for column in columns}
    if len(lengths) != 1:
        raise ValueError(f"gold and predictions differ in length: {sorted(lengths)}")
    if not lengths - {0}:
        raise ValueError("nothing to compare: the evaluation slice is empty")
    try:
        return [
            np.fromiter((index[v] for v in column), np.int64, len(column)) for column in columns
        ]
    except KeyError as exc:
        raise ValueError(f"label outside the label set: {exc.args[0]}") from None

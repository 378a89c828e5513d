"""Classification metrics in numpy: accuracy, per-label and macro F1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class Metrics:
    accuracy: float
    macro_f1: float
    per_label_f1: dict[str, float]
    support: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> Metrics:
    """Metrics of ``y_pred`` against ``y_true``; both must hold only ``labels``.

    Macro-F1 averages over the labels that occur in ``y_true`` or ``y_pred`` (F1 is
    undefined for a label that never occurs; such labels report 0.0 and support 0).
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("nothing to evaluate")
    index = {label: position for position, label in enumerate(labels)}
    unknown = sorted((set(y_true) | set(y_pred)) - index.keys())
    if unknown:
        raise ValueError(f"labels outside the label set: {unknown[:5]}")
    true = np.fromiter((index[y] for y in y_true), dtype=np.int64, count=len(y_true))
    pred = np.fromiter((index[y] for y in y_pred), dtype=np.int64, count=len(y_pred))
    size = len(labels)
    hits = np.bincount(true[true == pred], minlength=size)
    support = np.bincount(true, minlength=size)
    predicted = np.bincount(pred, minlength=size)
    denominator = support + predicted
    f1 = np.divide(2.0 * hits, denominator, out=np.zeros(size), where=denominator > 0)
    present = denominator > 0
    return Metrics(
        accuracy=float(np.mean(true == pred)),
        macro_f1=float(f1[present].mean()),
        per_label_f1={label: float(f1[i]) for label, i in index.items()},
        support={label: int(support[i]) for label, i in index.items()},
    )

"""How retraining uses synthetic examples as real labels accumulate (distill/synthetic.py)."""

from __future__ import annotations

import pytest

from sieve.store.labels import TrainingLabel
from sieve.workers.distill.synthetic import with_synthetic


def _rows(prefix: str, count: int, source: str) -> list[TrainingLabel]:
    return [TrainingLabel(f"{prefix}{i}", f"text {i}", "a", source, "p@1") for i in range(count)]


@pytest.mark.parametrize(
    ("real", "synthetic", "split", "train_only"),
    [
        (0, 50, 50, 0),  # the bootstrap run: synthetic is all there is
        (199, 50, 249, 0),  # too few real labels to evaluate on alone
        (200, 50, 200, 50),  # enough: train only, never evaluated
        (999, 50, 999, 50),
        (1_000, 50, 1_000, 0),  # from drop_after: dropped
        (300, 0, 300, 0),  # no bootstrap
    ],
)
def test_synthetic_rows_split_then_train_only_then_drop(
    real: int, synthetic: int, split: int, train_only: int
) -> None:
    split_rows, only = with_synthetic(
        _rows("m", real, "llm"),
        _rows("s", synthetic, "synthetic"),
        evaluate_real_after=200,
        drop_after=1_000,
    )
    assert (len(split_rows), len(only)) == (split, train_only)
    assert all(row.source == "synthetic" for row in only)

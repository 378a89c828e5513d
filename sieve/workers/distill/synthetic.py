"""How retraining uses the synthetic bootstrap's examples, by the number of real labels
(LLM and human labels of real messages):

1. fewer than ``min_labels``: synthetic examples are all there is to train *and* to
   calibrate on, so they join the real rows in the train/evaluation split (the bootstrap
   run itself; its routing is fitted on held-out synthetic examples);
2. from ``min_labels`` on: they only train. The evaluation slice, the calibration and the
   promotion gate see real labels only, so a student is judged on real traffic;
3. from ``drop_after`` real labels on: they are dropped. By then real labels outnumber
   them, and texts written by an LLM are cleaner and more typical than the traffic.
"""

from __future__ import annotations

from collections.abc import Sequence

from sieve.store.labels import TrainingLabel


def with_synthetic(
    real: Sequence[TrainingLabel],
    synthetic: Sequence[TrainingLabel],
    *,
    min_labels: int,
    drop_after: int,
) -> tuple[list[TrainingLabel], list[TrainingLabel]]:
    """(rows to split into training and evaluation, rows that only train)."""
    if not synthetic or len(real) >= drop_after:
        return list(real), []
    if len(real) < min_labels:
        return [*real, *synthetic], []
    return list(real), list(synthetic)

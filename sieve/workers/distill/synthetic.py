"""How retraining uses the synthetic bootstrap's examples, by the number of real labels
(LLM and human labels of real messages):

1. fewer than ``evaluate_real_after``: synthetic examples join the real rows in the
   train/evaluation split. The bootstrap run has nothing else to train and calibrate on,
   and a few hundred real labels leave a slice too small for routing to estimate the
   LLM's accuracy (300 items: ``sieve.routing.fit``'s anchor points at the default
   evaluation fraction need 1,500 labels): judged on them alone, the student would keep
   nothing and send everything back to the LLM (measured: it undid the bootstrap);
2. from ``evaluate_real_after`` on: they only train. The evaluation slice, the
   calibration and the promotion gate see real labels only, so a student is judged on
   real traffic;
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
    evaluate_real_after: int,
    drop_after: int,
) -> tuple[list[TrainingLabel], list[TrainingLabel]]:
    """(rows to split into training and evaluation, rows that only train)."""
    if not synthetic or len(real) >= drop_after:
        return list(real), []
    if len(real) < evaluate_real_after:
        return [*real, *synthetic], []
    return list(real), list(synthetic)

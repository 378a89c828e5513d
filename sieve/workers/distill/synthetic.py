"""How retraining uses the synthetic bootstrap's examples, by the number of real labels
(LLM and human labels of real messages):

1. fewer than ``evaluate_real_after`` (default 200, retraining's ``min_labels``):
   synthetic examples join the real rows in the train/evaluation split — the bootstrap run
   has nothing else to train and calibrate on;
2. from there on: they only train. The evaluation slice, the calibration and the
   promotion gate see real labels only, so a student is judged on real traffic. Keeping
   them in the slice longer (until 1,500 real labels, when a slice of real labels alone
   is large enough for routing's anchor-point estimate) was measured worse on Banking77:
   synthetic labels are more accurate than the LLM's (the generator's ~95% against 80%),
   so routing estimated a better "teacher", fitted a stricter target and kept less — share
   to the LLM over the first 2,000 messages 67% instead of 43% (n-gram), 69% instead of
   65% (MiniLM), at the same accuracy;
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

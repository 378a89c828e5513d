"""What retraining fits for routing on a candidate: the temperature, and the thresholds of
sieve.routing.fit from the held-out slice, the gold set and the slice's nearest training
examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sieve.core.settings import RoutingSettings
from sieve.models.calibration import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    apply_temperature,
    fit_temperature,
    log_probs_as_logits,
)
from sieve.models.families.base import TrainedStudent
from sieve.routing.fit import Neighbours, fit_routing
from sieve.routing.thresholds import RoutingThresholds
from sieve.store.labels import TrainingLabel


def calibrate(
    probabilities: np.ndarray,
    gold: Sequence[str],
    label_set: Sequence[str],
    routing: RoutingSettings,
    *,
    gold_count: int = 0,
    neighbours: Neighbours | None = None,
    training_labels: int | None = None,
) -> RoutingThresholds:
    """Temperature scaling on the held-out slice, then routing thresholds for the target
    precision (sieve.routing.fit). The last ``gold_count`` rows are the human gold set;
    the rows before them carry the LLM's labels; ``neighbours`` are those rows' nearest
    training examples. A temperature fit that runs to the
    search bound (a slice with no errors) keeps T = 1: nothing to calibrate against."""
    index = {label: i for i, label in enumerate(label_set)}
    y = np.asarray([index[label] for label in gold], dtype=np.int64)
    logits = log_probs_as_logits(probabilities)
    split = len(y) - gold_count
    temperature = fit_temperature(logits[:split], y[:split]) if split else 1.0
    if not MIN_TEMPERATURE * 1.01 < temperature < MAX_TEMPERATURE * 0.99:
        temperature = 1.0
    scaled = apply_temperature(logits, temperature)
    return fit_routing(
        scaled[:split],
        y[:split],
        list(label_set),
        routing,
        temperature=temperature,
        gold_probs=scaled[split:] if gold_count else None,
        gold_labels=y[split:] if gold_count else None,
        neighbours=neighbours,
        training_labels=training_labels,
    )


def nearest_training_examples(
    model: TrainedStudent,
    train_rows: Sequence[TrainingLabel],
    slice_rows: Sequence[TrainingLabel],
    chunk_rows: int = 1_024,
) -> Neighbours | None:
    """Each held-out message's most similar training example in the model's embedding
    space, and whether the two carry the same label: routing's "unseen" floor and its
    near-duplicate estimate of the LLM's accuracy come from them."""
    if not train_rows or not slice_rows:
        return None
    reference = model.embed([row.text for row in train_rows])
    queries = model.embed([row.text for row in slice_rows])
    if reference is None or queries is None:
        return None
    train_labels = np.asarray([row.label for row in train_rows])
    similarity = np.empty(len(slice_rows), dtype=np.float32)
    nearest = np.empty(len(slice_rows), dtype=np.int64)
    for start in range(0, len(slice_rows), chunk_rows):
        scores = queries[start : start + chunk_rows] @ reference.T
        nearest[start : start + chunk_rows] = scores.argmax(axis=1)
        similarity[start : start + chunk_rows] = scores.max(axis=1)
    same = train_labels[nearest] == np.asarray([row.label for row in slice_rows])
    return Neighbours(similarity=similarity, same_label=same)

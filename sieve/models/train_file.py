"""The file → model path of `sieve train` and the benchmarks: read a labeled file, train a
student of any family, evaluate it on a held-out file, save it in the registry."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sieve.core.dataset import data_hash, read_labeled_jsonl
from sieve.core.errors import PermanentError
from sieve.models.evaluation import Metrics, evaluate
from sieve.models.families import get_family
from sieve.models.families.base import Progress, TrainedStudent, TrainOptions
from sieve.models.registry import ArtefactInfo, ModelRegistry

logger = logging.getLogger(__name__)

# (texts, labels, label set) → a trained student
Trainer = Callable[[Sequence[str], Sequence[str], Sequence[str]], TrainedStudent]


def train_file(
    train_path: Path,
    registry: ModelRegistry,
    train: Trainer,
    *,
    eval_path: Path | None,
    label_set: list[str] | None = None,
) -> tuple[ArtefactInfo, Metrics | None]:
    """Read a labeled file, train, evaluate on ``eval_path`` if given, save to the registry.

    The label set is the sorted labels of the training file unless given. Metrics of the
    evaluation (accuracy, macro-F1, per-label F1) are stored in the artefact's meta.json.
    """
    records = read_labeled_jsonl(train_path)
    if not records:
        raise PermanentError(f"{train_path}: no training records")
    labels = label_set if label_set is not None else sorted({r.label for r in records})
    model = train([r.text for r in records], [r.label for r in records], labels)
    metrics = None
    if eval_path is not None:
        held_out = read_labeled_jsonl(eval_path)
        unknown = sorted({r.label for r in held_out} - set(labels))
        if unknown:
            raise PermanentError(f"{eval_path}: labels outside the label set: {unknown[:5]}")
        probabilities = model.predict_proba([r.text for r in held_out])
        predicted = [model.labels[int(i)] for i in probabilities.argmax(axis=1)]
        metrics = evaluate([r.label for r in held_out], predicted, labels)
        logger.info("accuracy %.4f, macro-F1 %.4f", metrics.accuracy, metrics.macro_f1)
    summary: dict[str, Any] = {"train_records": len(records)}
    if metrics is not None:
        summary.update(metrics.to_dict(), eval_records=len(held_out))
    info = registry.save(model, data_hash=data_hash(records), metrics=summary)
    return info, metrics


def train_family_file(
    train_path: Path,
    registry: ModelRegistry,
    family: str,
    options: TrainOptions,
    *,
    eval_path: Path | None,
    label_set: list[str] | None = None,
    progress: Progress | None = None,
) -> tuple[ArtefactInfo, Metrics | None]:
    """train_file with a student of the family named ``family``."""
    student_family = get_family(family)

    def train(
        texts: Sequence[str], labels: Sequence[str], labels_set: Sequence[str]
    ) -> TrainedStudent:
        return student_family.train(texts, labels, labels_set, options, progress)

    return train_file(train_path, registry, train, eval_path=eval_path, label_set=label_set)

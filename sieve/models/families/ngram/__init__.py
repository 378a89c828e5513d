"""The n-gram family: hashed word and character n-grams, a mean-pooled embedding table and
one linear layer (features.py, network.py, training.py, export.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sieve.core.errors import PermanentError
from sieve.models.classifier import DEFAULT_CHUNK_ROWS, META_FILE, OnnxClassifier
from sieve.models.families.base import Progress, TrainedStudent, TrainOptions
from sieve.models.families.ngram.features import FeatureConfig, HashingFeaturizer


class NgramFamily:
    name = "ngram"

    def train(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        label_set: Sequence[str],
        options: TrainOptions,
        progress: Progress | None = None,
    ) -> TrainedStudent:
        from sieve.models.families.ngram.training import (  # torch: training only
            TrainConfig,
            train_ngram,
        )

        config = TrainConfig(seed=options.seed, num_threads=options.num_threads)
        if options.epochs is not None:
            config = TrainConfig(
                seed=options.seed, epochs=options.epochs, num_threads=options.num_threads
            )
        return train_ngram(texts, labels, label_set, config, progress)

    def load(
        self, artefact_dir: Path, meta: dict[str, Any], *, intra_op_num_threads: int
    ) -> OnnxClassifier:
        try:
            features = FeatureConfig.from_dict(meta["feature_config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentError(f"{artefact_dir / META_FILE}: bad meta: {exc!r}") from exc
        return OnnxClassifier.open(
            artefact_dir,
            HashingFeaturizer(features),
            intra_op_num_threads=intra_op_num_threads,
            chunk_rows=DEFAULT_CHUNK_ROWS,
        )

    def describe(self, meta: dict[str, Any]) -> str:
        train = meta.get("train_config") or {}
        return (
            f"n-gram: hashed n-grams, {train.get('dim', '?')}-dim mean-pooled embedding, "
            f"linear head, {train.get('epochs', '?')} epochs"
        )


FAMILY = NgramFamily()

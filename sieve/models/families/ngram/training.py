"""Training of the n-gram classifier in torch, and the file → registry convenience path.

The embedding table is large and each batch touches a few thousand of its rows, so
only those rows are updated, with lazy Adam (SparseAdam's update; dense Adam over the
whole table: minutes); the small output layer uses plain Adam. Both learning rates decay
linearly to zero, as in fastText. The step is written out in fit.py (no autograd, no
torch.optim): it was 22 ms a batch through autograd and SparseAdam.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from sieve.core.dataset import label_indices
from sieve.models.families.ngram.features import FeatureConfig, HashingFeaturizer
from sieve.models.families.ngram.fit import (
    AdamUpdates,
    FlatBatch,
    compact_vocabulary,
    gradients,
    pooled,
)
from sieve.models.families.ngram.network import NgramNet

if TYPE_CHECKING:
    from sieve.models.evaluation import Metrics
    from sieve.models.families.base import TrainedStudent
    from sieve.models.registry import ArtefactInfo, ModelRegistry

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

_FEATURISE_CHUNK = 1024


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 5
    dim: int = 64
    lr: float = 0.04
    batch_size: int = 64
    seed: int = 0
    features: FeatureConfig = field(default_factory=FeatureConfig)
    # Torch threads while training (restored afterwards); None: leave torch's setting.
    # 1 by default: on banking77 (2-core host, other work running) 2 threads took 76 s
    # and 164 s in two runs where 1 thread took 16 s and 26 s, with identical weights.
    num_threads: int | None = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = self.features.to_dict()
        return data


@dataclass
class TrainedModel:
    """A trained n-gram student (sieve.models.families.base.TrainedStudent)."""

    family: ClassVar[str] = "ngram"
    network: NgramNet
    labels: tuple[str, ...]
    feature_config: FeatureConfig
    train_config: TrainConfig
    # L2-normalised pooled embeddings of (a sample of) the training texts, float16 [R, dim].
    reference: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return self.train_config.to_dict()

    def export(self, folder: Path) -> dict[str, Any]:
        from sieve.models.classifier import MODEL_FILE, REFERENCE_FILE
        from sieve.models.families.ngram.export import export_onnx

        export_onnx(self, folder / MODEL_FILE)
        if self.reference is not None:
            np.save(folder / REFERENCE_FILE, self.reference, allow_pickle=False)
        return {"feature_config": self.feature_config.to_dict()}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' L2-normalised pooled embeddings (float32 [B, dim])."""
        return torch.nn.functional.normalize(self._pooled(texts), p=2.0, dim=1).numpy()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax probabilities from the torch network (float32 [B, num_labels])."""
        with torch.no_grad():
            logits = self.network.output(self._pooled(texts))
            return torch.softmax(logits, dim=1).numpy()

    def _pooled(self, texts: Sequence[str]) -> torch.Tensor:
        """The texts' pooled embeddings, float32 [B, dim]: featurised unpadded, so a long
        text costs only its own n-grams."""
        features = _RaggedFeatures.of(texts, HashingFeaturizer(self.feature_config))
        with _torch_threads(self.train_config.num_threads):
            return pooled(self.network.embedding.weight, features.flat(np.arange(len(features))))

    def predict(self, texts: Sequence[str]) -> list[str]:
        best = self.predict_proba(texts).argmax(axis=1)
        return [self.labels[index] for index in best]


class _RaggedFeatures:
    """Every text's feature ids, unpadded (``counts[t]`` ids of text t after those of
    the texts before it); ``flat`` hands out batches."""

    def __init__(self, ids: np.ndarray, counts: np.ndarray) -> None:
        self.ids = ids
        self.counts = counts
        self.starts = np.cumsum(self.counts) - self.counts

    @classmethod
    def of(cls, texts: Sequence[str], featurizer: HashingFeaturizer) -> _RaggedFeatures:
        """The texts featurised, in chunks."""
        chunks, counts = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        for start in range(0, len(texts), _FEATURISE_CHUNK):
            ids, mask = featurizer.transform(texts[start : start + _FEATURISE_CHUNK])
            chunks.append(ids[mask > 0])  # row-major: each row's ids stay together
            counts.append(mask.sum(axis=1).astype(np.int64))
        return cls(np.concatenate(chunks), np.concatenate(counts))

    def __len__(self) -> int:
        return len(self.counts)

    def flat(self, rows: np.ndarray) -> FlatBatch:
        """The features of texts ``rows``, in that order, unpadded."""
        counts = self.counts[rows]
        text = np.repeat(np.arange(len(rows)), counts)
        first = np.cumsum(counts) - counts
        source = self.starts[rows][text] + np.arange(len(text)) - first[text]
        return FlatBatch(text=text, ids=self.ids[source], counts=counts)


def train_ngram(
    texts: Sequence[str],
    labels: Sequence[str],
    label_set: Sequence[str],
    config: TrainConfig = TrainConfig(),  # frozen, so a shared default is safe
    progress: Progress | None = None,
) -> TrainedModel:
    """Train on ``texts`` with gold ``labels`` (each one of ``label_set``)."""
    positions = label_indices(texts, labels, label_set)
    started = time.monotonic()
    features = _RaggedFeatures.of(texts, HashingFeaturizer(config.features))
    targets = torch.tensor(positions, dtype=torch.int64)
    with torch.random.fork_rng(devices=[]), _torch_threads(config.num_threads):
        torch.manual_seed(config.seed)
        network = NgramNet(config.features.num_buckets, config.dim, len(label_set))
        _fit(network, features, targets, config, progress)
        network.eval()
        reference = _pooled(network, features, config.seed)
    logger.info(
        "trained on %d texts, %d labels, %d epochs in %.1f s",
        len(texts),
        len(label_set),
        config.epochs,
        time.monotonic() - started,
    )
    return TrainedModel(network, tuple(label_set), config.features, config, reference)


def _pooled(network: NgramNet, features: _RaggedFeatures, seed: int) -> np.ndarray:
    """The training texts' normalised pooled embeddings: the classifier's similarity
    reference (a sample when there are many)."""
    from sieve.models.classifier import reference_sample

    rows = []
    for start in range(0, len(features), 512):
        batch = features.flat(np.arange(start, min(start + 512, len(features))))
        embedded = pooled(network.embedding.weight, batch)
        rows.append(torch.nn.functional.normalize(embedded, p=2.0, dim=1).numpy())
    return reference_sample(np.concatenate(rows), seed)


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit(
    network: NgramNet,
    features: _RaggedFeatures,
    targets: torch.Tensor,
    config: TrainConfig,
    progress: Progress | None,
) -> None:
    """Train on a table of only the rows the texts use (fit.compact_vocabulary), then
    write those rows back: the others keep their initial values, as they would have."""
    vocabulary, compact_ids = compact_vocabulary(features.ids)
    rows_used = torch.from_numpy(vocabulary)
    table = network.embedding.weight.detach().index_select(0, rows_used)
    compact = _RaggedFeatures(compact_ids, features.counts)
    steps_per_epoch = -(-len(targets) // config.batch_size)
    updates = AdamUpdates(table, network.output, config.lr, config.epochs * steps_per_epoch)
    shuffler = np.random.default_rng(config.seed)
    network.train()
    for epoch in range(config.epochs):
        order = shuffler.permutation(len(targets))
        total_loss = 0.0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            step = gradients(table, network.output, compact.flat(rows), targets[rows])
            updates.apply(step)
            total_loss += step.loss * len(rows)
        logger.debug("epoch %d: mean loss %.4f", epoch + 1, total_loss / len(order))
        if progress is not None:
            progress(epoch + 1, config.epochs)
    with torch.no_grad():
        network.embedding.weight.index_copy_(0, rows_used, table)


def train_from_file(
    train_path: Path,
    registry: ModelRegistry,
    *,
    eval_path: Path | None,
    config: TrainConfig,
    label_set: list[str] | None = None,
    progress: Progress | None = None,
) -> tuple[ArtefactInfo, Metrics | None]:
    """An n-gram model from a labeled file, saved in the registry (see train_file)."""
    from sieve.models.train_file import train_file

    def train(
        texts: Sequence[str], labels: Sequence[str], label_set: Sequence[str]
    ) -> TrainedStudent:
        return train_ngram(texts, labels, label_set, config, progress)

    return train_file(train_path, registry, train, eval_path=eval_path, label_set=label_set)

"""Training of the n-gram classifier in torch, and the file → registry convenience path.

The embedding table is large and each batch touches a few thousand of its rows, so it
is trained with sparse gradients and ``SparseAdam`` (10k texts × 5 epochs: seconds; dense
Adam over the whole table: minutes). The small output layer uses plain ``Adam``. Both
learning rates decay linearly to zero, as in fastText.
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
from torch.nn import functional

from sieve.core.dataset import label_indices
from sieve.models.families.ngram.features import FeatureConfig, HashingFeaturizer
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

    def embed(self, texts: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """The texts' L2-normalised pooled embeddings (float32 [B, dim])."""
        featurizer = HashingFeaturizer(self.feature_config)
        rows = [np.zeros((0, self.network.embedding.embedding_dim), dtype=np.float32)]
        self.network.eval()
        with torch.inference_mode(), _torch_threads(self.train_config.num_threads):
            for start in range(0, len(texts), batch_size):
                ids, mask = featurizer.transform(texts[start : start + batch_size])
                pooled = self.network.pool(torch.from_numpy(ids), torch.from_numpy(mask))
                rows.append(torch.nn.functional.normalize(pooled, p=2.0, dim=1).numpy())
        return np.concatenate(rows)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """Softmax probabilities from the torch network (float32 [B, num_labels])."""
        featurizer = HashingFeaturizer(self.feature_config)
        rows = [np.zeros((0, len(self.labels)), dtype=np.float32)]
        self.network.eval()
        with torch.inference_mode(), _torch_threads(self.train_config.num_threads):
            for start in range(0, len(texts), batch_size):
                ids, mask = featurizer.transform(texts[start : start + batch_size])
                logits = self.network(torch.from_numpy(ids), torch.from_numpy(mask))
                rows.append(torch.softmax(logits, dim=1).numpy())
        return np.concatenate(rows)

    def predict(self, texts: Sequence[str]) -> list[str]:
        best = self.predict_proba(texts).argmax(axis=1)
        return [self.labels[index] for index in best]


class _RaggedFeatures:
    """Every text's feature ids, unpadded; batches are padded to their own longest row."""

    def __init__(self, texts: Sequence[str], featurizer: HashingFeaturizer) -> None:
        chunks, counts = [], []
        for start in range(0, len(texts), _FEATURISE_CHUNK):
            ids, mask = featurizer.transform(texts[start : start + _FEATURISE_CHUNK])
            chunks.append(ids[mask > 0])  # row-major: each row's ids stay together
            counts.append(mask.sum(axis=1).astype(np.int64))
        self.ids = np.concatenate(chunks)
        self.counts = np.concatenate(counts)
        self.starts = np.cumsum(self.counts) - self.counts

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        counts = self.counts[rows]
        length = int(counts.max())
        column = np.arange(length)
        mask = column[None, :] < counts[:, None]
        source = np.where(mask, self.starts[rows][:, None] + column[None, :], 0)
        ids = np.where(mask, self.ids[source], 0)
        return torch.from_numpy(ids), torch.from_numpy(mask.astype(np.float32))


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
    features = _RaggedFeatures(texts, HashingFeaturizer(config.features))
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
    with torch.inference_mode():
        for start in range(0, len(features.counts), 512):
            ids, mask = features.batch(np.arange(start, min(start + 512, len(features.counts))))
            pooled = torch.nn.functional.normalize(network.pool(ids, mask), p=2.0, dim=1)
            rows.append(pooled.numpy())
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
    optimisers = [
        torch.optim.SparseAdam(network.embedding.parameters(), lr=config.lr),
        torch.optim.Adam(network.output.parameters(), lr=config.lr),
    ]
    steps_per_epoch = -(-len(targets) // config.batch_size)
    total_steps = max(config.epochs * steps_per_epoch, 1)
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / total_steps)
        for opt in optimisers
    ]
    shuffler = np.random.default_rng(config.seed)
    network.train()
    for epoch in range(config.epochs):
        order = shuffler.permutation(len(targets))
        total_loss = 0.0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            ids, mask = features.batch(rows)
            loss = functional.cross_entropy(network(ids, mask), targets[rows])
            for opt in optimisers:
                opt.zero_grad()
            loss.backward()
            for opt, scheduler in zip(optimisers, schedulers, strict=True):
                opt.step()
                scheduler.step()
            total_loss += loss.item() * len(rows)
        logger.debug("epoch %d: mean loss %.4f", epoch + 1, total_loss / len(order))
        if progress is not None:
            progress(epoch + 1, config.epochs)


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

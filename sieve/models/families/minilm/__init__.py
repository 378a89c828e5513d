"""The minilm family: all-MiniLM-L6-v2 (int8 ONNX) + mean pooling + a linear head.

Training embeds the texts with the cached int8 encoder (encoder.py; embeddings.py caches
the vectors of texts seen before) and fits the head (head.py); export appends the head to
the encoder graph, so each version is one ``model.onnx`` with a copy of the tokenizer and
the reference embeddings for similarity. Serving needs onnxruntime and tokenizers only.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sieve.core.dataset import label_indices
from sieve.core.errors import ConfigError, PermanentError
from sieve.models.calibration import softmax
from sieve.models.classifier import (
    META_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    OnnxClassifier,
    reference_sample,
)
from sieve.models.families.base import Progress, TrainOptions
from sieve.models.families.minilm.embeddings import (
    CACHE_FILE,
    CHUNK_ROWS,
    Embedder,
    EmbeddingCache,
)
from sieve.models.families.minilm.encoder import TOKENIZER_FILE, Encoder, cached_encoder
from sieve.models.families.minilm.head import DEFAULT_L2, build_graph, fit_head
from sieve.models.families.minilm.tokens import MAX_TOKENS, TokenFeaturizer

logger = logging.getLogger(__name__)

# Each L-BFGS iteration is one full pass over the data; "epochs" (a setting shared with the
# n-gram family, default 5) maps onto iterations. On 2,000 Banking77 texts with 20% noisy
# labels, test accuracy after 5/10/20/50 iterations: 0.72/0.83/0.84/0.85; so the default
# (25) is near convergence and 1 epoch is a measurably under-trained head.
ITERATIONS_PER_EPOCH = 5
DEFAULT_EPOCHS = 5


@dataclass
class MiniLMStudent:
    """A fitted head over the int8 encoder (sieve.models.families.base.TrainedStudent)."""

    family: ClassVar[str] = "minilm"
    labels: tuple[str, ...]
    encoder: Encoder
    weights: np.ndarray  # float32 [D, K]
    bias: np.ndarray  # float32 [K]
    reference: np.ndarray  # float16 [R, D], L2-normalised training embeddings
    embedder: Embedder
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def encoded_texts(self) -> int:
        """Texts this student's embedder sent through the encoder (embedding-cache misses)."""
        return self.embedder.encoded_texts

    def config(self) -> dict[str, Any]:
        return dict(self.settings)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        logits = self.embedder.embed(texts) @ self.weights + self.bias
        return softmax(logits).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.embedder.embed(texts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return normalised

    def export(self, folder: Path) -> dict[str, Any]:
        build_graph(self.encoder.path, self.weights, self.bias, folder / MODEL_FILE)
        shutil.copyfile(self.encoder.tokenizer_path, folder / TOKENIZER_FILE)
        np.save(folder / REFERENCE_FILE, self.reference, allow_pickle=False)
        return {
            "encoder": {"id": self.encoder.id, "dim": self.encoder.dim, "max_tokens": MAX_TOKENS}
        }


class MiniLMFamily:
    name = "minilm"

    def train(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        label_set: Sequence[str],
        options: TrainOptions,
        progress: Progress | None = None,
    ) -> MiniLMStudent:
        positions = label_indices(texts, labels, label_set)
        if options.cache_dir is None:
            raise ConfigError("the minilm family needs a cache folder for its encoder")
        started = time.monotonic()
        encoder = cached_encoder(options.cache_dir)
        embedder = Embedder(
            encoder,
            num_threads=options.num_threads,
            cache=EmbeddingCache(encoder.folder / CACHE_FILE, encoder.id),
        )
        embeddings = embedder.embed(texts)
        if progress is not None:
            progress(1, 2)
        embedded = time.monotonic()
        targets = np.asarray(positions, dtype=np.int64)
        max_iter = (options.epochs or DEFAULT_EPOCHS) * ITERATIONS_PER_EPOCH
        weights, bias = fit_head(
            embeddings, targets, len(label_set), l2=DEFAULT_L2, max_iter=max_iter
        )
        if progress is not None:
            progress(2, 2)
        logger.info(
            "minilm: %d texts (%d encoded, the rest cached) in %.1f s, head in %.1f s",
            len(texts),
            embedder.encoded_texts,
            embedded - started,
            time.monotonic() - embedded,
        )
        return MiniLMStudent(
            labels=tuple(label_set),
            encoder=encoder,
            weights=weights,
            bias=bias,
            reference=reference_sample(embeddings, options.seed),
            embedder=embedder,
            settings={
                "seed": options.seed,
                "l2": DEFAULT_L2,
                "max_iter": max_iter,
                "encoder_id": encoder.id,
            },
        )

    def load(
        self, artefact_dir: Path, meta: dict[str, Any], *, intra_op_num_threads: int
    ) -> OnnxClassifier:
        try:
            max_tokens = int((meta.get("encoder") or {}).get("max_tokens", MAX_TOKENS))
        except (TypeError, ValueError, AttributeError) as exc:
            raise PermanentError(f"{artefact_dir / META_FILE}: bad meta: {exc!r}") from exc
        return OnnxClassifier.open(
            artefact_dir,
            TokenFeaturizer(artefact_dir / TOKENIZER_FILE, max_tokens),
            intra_op_num_threads=intra_op_num_threads,
            chunk_rows=CHUNK_ROWS,
        )

    def describe(self, meta: dict[str, Any]) -> str:
        encoder = (meta.get("encoder") or {}).get("id", "?")
        return f"minilm: all-MiniLM-L6-v2 int8 encoder {encoder}, mean pooling, linear head"


FAMILY = MiniLMFamily()

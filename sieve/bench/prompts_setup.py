"""Setup of `sieve bench prompts` (prompts.py): the store with its labeled pool, the
retrieval index over it, the MiniLM encoder as the embedder, and no Kafka."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from sieve.core.dataset import LabeledText
from sieve.core.events import LabelSource
from sieve.labeler.sim.noise import Teacher
from sieve.store.engine import make_engine
from sieve.store.labels import GOLD, LabelRecord, LabelStatus, save_label
from sieve.store.migrate import upgrade
from sieve.store.repository import MessageRecord, save_messages
from sieve.workers.llm.examples import StoreExamples


class NoEvents:
    """A RecordProducer that drops the final label events (no Kafka in this benchmark)."""

    def send(self, topic: str, **_: object) -> NoEvents:
        return self

    def get(self, timeout_s: float | None = None) -> None:
        return None

    def flush(self, timeout_s: float | None = None) -> None:
        return None

    def close(self, timeout_s: float | None = None) -> None:
        return None


class EncoderEmbedder:
    """The MiniLM int8 encoder as a TextEmbedder (the space of the minilm student)."""

    def __init__(self, cache_dir: Path) -> None:
        from sieve.models.families.minilm.embeddings import CACHE_FILE, Embedder, EmbeddingCache
        from sieve.models.families.minilm.encoder import cached_encoder

        encoder = cached_encoder(cache_dir)
        self.id = encoder.id
        self._embedder = Embedder(
            encoder, num_threads=2, cache=EmbeddingCache(encoder.folder / CACHE_FILE, encoder.id)
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._embedder.embed(texts)
        normalised: np.ndarray = vectors / np.maximum(
            np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12
        )
        return normalised


def fresh_store(
    url: str, teacher: Teacher, pool: Sequence[LabeledText], embedder: EncoderEmbedder
) -> tuple[Engine, StoreExamples]:
    """A fresh store holding the labeled pool, and its retrieval index (built now)."""
    upgrade(url)
    engine = make_engine(url)
    seed_pool(engine, teacher, pool)
    examples = StoreExamples(engine, lambda: embedder, refresh_s=3_600.0, max_examples=20_000)
    started = time.monotonic()
    examples.nearest("warm-up", 1, message_id=None)
    print(f"retrieval index: {len(pool)} labeled texts in {time.monotonic() - started:.1f} s")
    return engine, examples


def seed_pool(engine: Engine, teacher: Teacher, pool: Sequence[LabeledText]) -> None:
    """Labeled training texts: a third human labels, the rest the simulated LLM's."""
    save_messages(engine, [MessageRecord(id=f"pool-{r.id}", text=r.text) for r in pool])
    # An earlier run's labels: a version of their own, so no figure of this run counts them.
    earlier = "earlier-run@1"
    for i, record in enumerate(pool):
        if i % 3 == 0:
            row = LabelRecord(
                f"pool-{record.id}", LabelSource.HUMAN, "review", "", record.label, LabelStatus.OK
            )
        else:
            label = teacher.choose(record.text).label
            row = LabelRecord(
                f"pool-{record.id}",
                LabelSource.LLM,
                earlier,
                "teacher-sim",
                label,
                LabelStatus.OK,
            )
        save_label(engine, row)


def register_gold(engine: Engine, gold: Sequence[LabeledText]) -> None:
    save_messages(engine, [MessageRecord(id=f"gold-{r.id}", text=r.text) for r in gold])
    for r in gold:
        save_label(
            engine,
            LabelRecord(f"gold-{r.id}", LabelSource.HUMAN, GOLD, "", r.label, LabelStatus.OK),
        )

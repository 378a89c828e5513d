"""The labeled examples a retrieval prompt shows, from the store (sieve.labeler.retrieval).

Each labeling worker process keeps one ``ExampleIndex``: every message's label (human
labels — gold included — win over the LLM's, the newest LLM label over older ones), at most
``max_examples`` of them with human labels kept first, embedded with the active student's
encoder. It is rebuilt at most every ``refresh_s``, and only when the active model or the
number of OK labels changed; a rebuild in the same space embeds only the new texts.
Without an active model that embeds texts, retrieval prompts get no examples (logged once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from sieve.core.events import LabelSource
from sieve.labeler.prompts import FewShotExample
from sieve.labeler.retrieval import ExampleIndex, LabeledExample, TextEmbedder, build_index
from sieve.models.classifier import OnnxClassifier
from sieve.models.registry import ModelRegistry
from sieve.store.labels import gold_labels, ok_label_count, training_labels
from sieve.store.versions import active_model_version

logger = logging.getLogger(__name__)

EmbedderSource = Callable[[], TextEmbedder | None]


def example_pool(engine: Engine, max_examples: int) -> list[LabeledExample]:
    """One example per labeled message, human labels first."""
    chosen = [*gold_labels(engine), *training_labels(engine)]
    examples = [
        LabeledExample(row.message_id, row.text, row.label, row.source == LabelSource.HUMAN)
        for row in chosen
    ]
    examples.sort(key=lambda example: not example.human)  # stable: humans first
    return examples[:max_examples]


class ActiveModelEmbedder:
    """The active student's encoder, loaded once per version (an ``EmbedderSource``)."""

    def __init__(self, engine: Engine, registry: ModelRegistry) -> None:
        self._engine = engine
        self._registry = registry
        self._model: OnnxClassifier | None = None

    def __call__(self) -> TextEmbedder | None:
        version = active_model_version(self._engine)
        if version is None:
            return None
        if self._model is None or self._model.version != version:
            self._model = self._registry.load(version)
        return self._model if self._model.has_embedding else None


class StoreExamples:
    def __init__(
        self,
        engine: Engine,
        embedder: EmbedderSource,
        *,
        refresh_s: float,
        max_examples: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._embedder_source = embedder
        self._refresh_s = refresh_s
        self._max_examples = max_examples
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._marker: tuple[str, int] | None = None
        self._index: ExampleIndex | None = None
        self._embedder: TextEmbedder | None = None
        self._warned = False

    def nearest(self, text: str, k: int, *, message_id: str | None) -> list[FewShotExample]:
        """Up to ``k`` labeled examples for ``text`` (never the message itself)."""
        with self._lock:
            self._refresh()
            index, embedder = self._index, self._embedder
        if index is None or embedder is None or not len(index):
            return []
        return index.nearest(embedder.embed([text])[0], text, k, message_id=message_id)

    def _refresh(self) -> None:
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self._refresh_s:
            return
        self._checked_at = now
        embedder = self._embedder_source()
        if embedder is None:
            if not self._warned:
                logger.warning("no active model that embeds texts: retrieval prompts get none")
                self._warned = True
            self._index = self._embedder = None
            self._marker = None
            return
        marker = (embedder.id, ok_label_count(self._engine))
        if marker == self._marker:
            return
        started = time.monotonic()
        self._index = build_index(
            example_pool(self._engine, self._max_examples), embedder, known=self._index
        )
        self._embedder, self._marker = embedder, marker
        logger.info(
            "retrieval index: %d labeled examples in %s (%.1f s)",
            len(self._index),
            embedder.id,
            time.monotonic() - started,
        )

"""The retrieval examples of a labeling worker (sieve.workers.llm.examples): built from the
store's labels (human first), rebuilt only when the labels or the model change, and none
without an embedder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import Engine

from sieve.store.labels import GOLD, LabelRecord, LabelStatus, save_label
from sieve.store.repository import MessageRecord, save_messages
from sieve.workers.llm.examples import StoreExamples, example_pool


class _WordEmbedder:
    """Bag of words hashed into 32 dimensions; counts the texts it embeds."""

    def __init__(self, space: str = "words-32") -> None:
        self.id = space
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        out = np.zeros((len(texts), 32), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, sum(map(ord, word)) % 32] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _label(engine: Engine, message_id: str, text: str, label: str, source: str) -> None:
    save_messages(engine, [MessageRecord(id=message_id, text=text)])
    version = GOLD if source == "human" else "p@1"
    model = "" if source == "human" else "llm"
    save_label(engine, LabelRecord(message_id, source, version, model, label, LabelStatus.OK))


def test_the_pool_has_one_label_per_message_human_first(sqlite_engine: Engine) -> None:
    _label(sqlite_engine, "a", "card not here", "card_arrival", "llm")
    _label(sqlite_engine, "b", "link card", "card_linking", "llm")
    _label(sqlite_engine, "b", "link card", "card_arrival", "human")  # wins over the LLM's
    pool = example_pool(sqlite_engine, max_examples=10)
    assert [(e.message_id, e.label, e.human) for e in pool] == [
        ("b", "card_arrival", True),
        ("a", "card_arrival", False),
    ]
    assert [e.message_id for e in example_pool(sqlite_engine, max_examples=1)] == ["b"]


def test_the_index_is_rebuilt_only_when_labels_or_the_model_change(sqlite_engine: Engine) -> None:
    clock, embedder = _Clock(), _WordEmbedder()
    current: list[_WordEmbedder | None] = [embedder]
    examples = StoreExamples(
        sqlite_engine, lambda: current[0], refresh_s=60.0, max_examples=100, clock=clock
    )
    _label(sqlite_engine, "a", "my card has not arrived", "card_arrival", "llm")
    shown = examples.nearest("card not arrived", 3, message_id="q1")
    assert [e.label for e in shown] == ["card_arrival"]
    _label(sqlite_engine, "b", "link my card please", "card_linking", "human")
    assert len(examples.nearest("card not arrived", 3, message_id="q1")) == 1  # not yet
    clock.now = 61.0
    before = embedder.embedded
    assert len(examples.nearest("card not arrived", 3, message_id="q1")) == 2
    assert embedder.embedded - before == 2  # the new text and the query, not the old text
    clock.now = 200.0
    before = embedder.embedded
    examples.nearest("card not arrived", 3, message_id="q1")
    assert embedder.embedded - before == 1  # nothing changed: only the query is embedded
    current[0] = None  # no active model that embeds texts
    clock.now = 300.0
    assert examples.nearest("card not arrived", 3, message_id="q1") == []

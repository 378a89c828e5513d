"""Retrieval-grounded prompts: the labeled examples nearest to a message.

An ``ExampleIndex`` is a numpy matrix of L2-normalised embeddings of labeled texts (10,000
× 384 float32 is 15 MB and one matrix-vector product per message), each row with its
label and whether a human gave it. ``nearest`` picks what a prompt with ``retrieval_k``
shows:

1. never the message itself: rows with the same message id or the same normalised text
   are skipped, so a gold item labeled for an audit is not shown its own gold label;
2. the ``CANDIDATES_PER_SLOT × k`` most similar rows are the candidates; human labels
   among them come first (most similar first), then the LLM's, until ``k`` are taken;
3. they are returned least similar first: rendered in order, the nearest example sits
   right before the message.

Which texts are in the index and which encoder embeds them is the caller's business
(``sieve.workers.llm.examples`` builds it from the store with the active student's
encoder); the ``TextEmbedder`` role is all this module asks of an encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sieve.labeler.cache import normalise_text
from sieve.labeler.prompts import FewShotExample

CANDIDATES_PER_SLOT = 3


class TextEmbedder(Protocol):
    """Texts → L2-normalised embeddings float32 [N, D]. ``id`` names the space: vectors of
    two embedders with different ids are never compared."""

    @property
    def id(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class LabeledExample:
    message_id: str
    text: str
    label: str
    human: bool


class ExampleIndex:
    """Labeled examples and their embeddings (one row each, same order)."""

    def __init__(
        self, examples: Sequence[LabeledExample], vectors: np.ndarray, embedder_id: str
    ) -> None:
        if len(examples) != len(vectors):
            raise ValueError(f"{len(examples)} examples but {len(vectors)} vectors")
        self.examples = tuple(examples)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.embedder_id = embedder_id
        self._ids = np.array([example.message_id for example in examples], dtype=object)
        self._keys = np.array([normalise_text(example.text) for example in examples], dtype=object)
        self._human = np.array([example.human for example in examples], dtype=bool)

    def __len__(self) -> int:
        return len(self.examples)

    def nearest(
        self, query: np.ndarray, text: str, k: int, *, message_id: str | None = None
    ) -> list[FewShotExample]:
        """Up to ``k`` examples for the message ``text`` (embedded as ``query``, [D])."""
        if k <= 0 or not len(self.examples):
            return []
        scores = self.vectors @ np.asarray(query, dtype=np.float32)
        excluded = self._keys == normalise_text(text)
        if message_id is not None:
            excluded |= self._ids == message_id
        scores = np.where(excluded, -np.inf, scores)
        width = min(len(scores), CANDIDATES_PER_SLOT * k)
        top = np.argpartition(-scores, width - 1)[:width]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        ordered = [*top[self._human[top]], *top[~self._human[top]]][:k]
        ordered.sort(key=lambda row: scores[row])
        return [
            FewShotExample(text=self.examples[row].text, label=self.examples[row].label)
            for row in ordered
        ]


def build_index(
    examples: Sequence[LabeledExample],
    embedder: TextEmbedder,
    known: ExampleIndex | None = None,
) -> ExampleIndex:
    """Embed ``examples``; texts ``known`` already holds in the same space are not
    embedded again (a refresh after new labels embeds only the new texts)."""
    reuse: dict[str, np.ndarray] = {}
    if known is not None and known.embedder_id == embedder.id:
        reuse = {example.text: known.vectors[row] for row, example in enumerate(known.examples)}
    missing = sorted({example.text for example in examples if example.text not in reuse})
    if missing:
        fresh = embedder.embed(missing)
        reuse.update(zip(missing, fresh, strict=True))
    if not examples:
        return ExampleIndex([], np.zeros((0, 0), dtype=np.float32), embedder.id)
    vectors = np.stack([reuse[example.text] for example in examples])
    return ExampleIndex(examples, vectors, embedder.id)

"""The teacher simulator's knowledge: which label it gives a text, right or wrong.

For a text of the labeled data it answers the gold label with probability ``accuracy``,
else a wrong one chosen by the noise model:

- ``uniform``: any other label;
- ``confusable``: one of the ``k`` labels nearest to the gold one — cosine similarity of
  TF-IDF vectors over character 3- and 4-grams of each label's example texts and name,
  the way ``pending_card_payment`` is mistaken for ``pending_transfer``;
- ``systematic``: always the nearest label, so every error of a gold label lands on the
  same wrong label, as when a model consistently misreads an ambiguous label name.

Every draw is a hash of (seed, purpose, text): the same text always gets the same answer.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from sieve.core.dataset import LabeledText
from sieve.core.errors import ConfigError
from sieve.labeler.cache import normalise_text

logger = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W_]+")
_GRAM_SIZES = (3, 4)
# A label's name says more about what it is confused with than any single example.
_NAME_WEIGHT = 5


class NoiseKind(StrEnum):
    UNIFORM = "uniform"
    CONFUSABLE = "confusable"
    SYSTEMATIC = "systematic"


def unit_interval(*parts: object) -> float:
    """A number in [0, 1) that depends only on ``parts``: the simulator's dice."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class TeacherChoice:
    label: str
    # None: the text is not in the labeled data (the label is a seeded random pick).
    gold: str | None

    @property
    def correct(self) -> bool | None:
        return None if self.gold is None else self.label == self.gold


class Teacher:
    """A labeled data set turned into a noisy, deterministic labeler."""

    def __init__(
        self,
        records: Sequence[LabeledText],
        *,
        accuracy: float,
        noise: NoiseKind | str = NoiseKind.CONFUSABLE,
        seed: int = 0,
        labels: Sequence[str] | None = None,
        neighbours_k: int = 3,
    ) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise ConfigError(f"accuracy must be within [0, 1], got {accuracy}")
        if neighbours_k < 1:
            raise ConfigError("neighbours_k must be >= 1")
        self.accuracy = accuracy
        self.noise = NoiseKind(noise)
        self.seed = seed
        self.labels = tuple(labels) if labels else tuple(sorted({r.label for r in records}))
        unknown = sorted({r.label for r in records} - set(self.labels))
        if unknown:
            raise ConfigError(f"labels in the data but not in the label set: {unknown[:5]}")
        if len(self.labels) < 2:
            raise ConfigError("the teacher needs at least two labels")
        self._gold, self._gold_normalised = _gold_index(records)
        self.neighbours = confusable_neighbours(records, self.labels, neighbours_k)
        logger.info(
            "teacher knows %d texts, %d labels; accuracy %.3f, noise %s, seed %d",
            len(self._gold),
            len(self.labels),
            accuracy,
            self.noise,
            seed,
        )

    def known_text(self, text: str) -> str | None:
        """The data's own spelling of ``text`` (exact, else after normalisation), or None."""
        if text in self._gold:
            return text
        return self._gold_normalised.get(normalise_text(text))

    def find_known_text(self, content: str) -> str | None:
        """The longest known text inside ``content``: the fallback when tags are missing."""
        found = [text for text in self._gold if text and text in content]
        return max(found, key=len) if found else None

    def gold_of(self, text: str) -> str | None:
        known = self.known_text(text)
        return None if known is None else self._gold[known]

    def choose(self, text: str, accuracy: float | None = None) -> TeacherChoice:
        """The simulated model's label for ``text``; the same text, the same label.
        ``accuracy`` replaces the teacher's own for this answer (a prompt-sensitive
        simulator); the same dice decide, so a text right at 0.7 stays right at 0.9."""
        known = self.known_text(text)
        if known is None:
            index = int(unit_interval(self.seed, "unknown", text) * len(self.labels))
            return TeacherChoice(label=self.labels[index], gold=None)
        gold = self._gold[known]
        threshold = self.accuracy if accuracy is None else accuracy
        if unit_interval(self.seed, "correct", known) < threshold:
            return TeacherChoice(label=gold, gold=gold)
        candidates = self.wrong_candidates(gold)
        index = int(unit_interval(self.seed, "wrong", known) * len(candidates))
        return TeacherChoice(label=candidates[index], gold=gold)

    def wrong_candidates(self, gold: str) -> tuple[str, ...]:
        """The labels an error on ``gold`` is drawn from, under this noise model."""
        if self.noise is NoiseKind.UNIFORM:
            return tuple(label for label in self.labels if label != gold)
        if self.noise is NoiseKind.SYSTEMATIC:
            return self.neighbours[gold][:1]
        return self.neighbours[gold]


def _gold_index(records: Iterable[LabeledText]) -> tuple[dict[str, str], dict[str, str]]:
    """text → label (the most frequent when copies disagree), and normalised text → text."""
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        votes[record.text.strip()][record.label] += 1
    conflicting = sum(1 for counts in votes.values() if len(counts) > 1)
    if conflicting:
        logger.warning(
            "%d texts appear with different labels: using the most frequent", conflicting
        )
    gold = {text: counts.most_common(1)[0][0] for text, counts in votes.items()}
    normalised: dict[str, str] = {}
    for text in gold:
        normalised.setdefault(normalise_text(text), text)
    return gold, normalised


def confusable_neighbours(
    records: Iterable[LabeledText], labels: Sequence[str], k: int
) -> dict[str, tuple[str, ...]]:
    """For each label, the ``k`` most similar other labels, most similar first."""
    similarity = label_similarity(_label_words(records, labels), labels)
    np.fill_diagonal(similarity, -np.inf)
    k = min(k, len(labels) - 1)
    # Stable sort on -similarity: ties keep label order, so the result is deterministic.
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return {label: tuple(labels[j] for j in order[i]) for i, label in enumerate(labels)}


def _label_words(records: Iterable[LabeledText], labels: Sequence[str]) -> list[Counter[str]]:
    index = {label: i for i, label in enumerate(labels)}
    words: list[Counter[str]] = [Counter() for _ in labels]
    for record in records:
        words[index[record.label]].update(_WORD.findall(record.text.casefold()))
    for label, i in index.items():
        for word in _WORD.findall(label.casefold()):
            words[i][word] += _NAME_WEIGHT
    return words


def label_similarity(words: Sequence[Mapping[str, int]], labels: Sequence[str]) -> np.ndarray:
    """Cosine similarity of the labels' TF-IDF vectors over character n-grams of words."""
    grams_of: dict[str, list[str]] = {}
    vocabulary: dict[str, int] = {}
    rows, columns, counts = [], [], []
    for row, counter in enumerate(words):
        grams: Counter[str] = Counter()
        for word, count in counter.items():
            if word not in grams_of:
                grams_of[word] = _char_grams(word)
            for gram in grams_of[word]:
                grams[gram] += count
        for gram, count in grams.items():
            rows.append(row)
            columns.append(vocabulary.setdefault(gram, len(vocabulary)))
            counts.append(count)
    matrix = np.zeros((len(labels), max(1, len(vocabulary))))
    matrix[rows, columns] = counts
    document_frequency = (matrix > 0).sum(axis=0)
    idf = np.log((1 + len(labels)) / (1 + document_frequency)) + 1
    vectors = np.log1p(matrix) * idf
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.where(norms == 0, 1.0, norms)
    similarity: np.ndarray = vectors @ vectors.T
    return similarity


def _char_grams(word: str) -> list[str]:
    padded = f" {word} "
    return [
        padded[i : i + size] for size in _GRAM_SIZES for i in range(max(1, len(padded) - size + 1))
    ]

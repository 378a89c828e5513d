"""Hashed word and character n-grams: the one featuriser shared by training and serving.

Everything after the per-text ``lower().encode()`` is vectorised over the whole batch:

1. The batch is one uint8 buffer; each text is padded with a space on both sides, so no
   word or character window crosses from one text into the next.
2. Character n-grams of length n are the windows of n bytes inside each padded text, hashed
   as ``sum(byte[p + k] * B**(n-1-k))`` with shifted views of the buffer.
3. Words are maximal runs of word bytes (ASCII letters and digits, and every byte >= 0x80
   so non-Latin scripts form words). A word's hash comes from a prefix sum over the buffer:
   with ``G[i] = sum_{j<i} byte[j] * B**-j`` (B odd, so invertible modulo 2**64), the
   substring [a, b) hashes to ``(G[b] - G[a]) * B**(b-1)``, independent of its position.
   Word n-grams combine the hashes of n consecutive words of the same text.
4. Every hash gets a salt per feature kind, is mixed (splitmix64 finaliser) and reduced to
   a bucket in [1, num_buckets); bucket 0 is padding. Each text also gets one marker
   feature, so an empty text still has a non-empty row.
5. The padded [batch, length] matrix is filled by scatter: features are ordered by text
   (stable), and a feature's column is its rank within its text.

All arithmetic is uint64 and wraps modulo 2**64 on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_BASE = 0x100000001B3  # FNV-64 prime: odd, hence invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 2**64)
_MARKER_SALT = 0x6A09E667F3BCC908
_WORD_SALT = 0xBB67AE8584CAA73B
_CHAR_SALT = 0x3C6EF372FE94F82B
_PAD = b" "


@dataclass(frozen=True)
class FeatureConfig:
    num_buckets: int = 2**17
    word_ngrams: tuple[int, ...] = (1, 2)
    char_ngrams: tuple[int, ...] = (2, 3, 4, 5)
    max_features: int = 1024

    def __post_init__(self) -> None:
        if self.num_buckets < 2:
            raise ValueError("num_buckets must be at least 2 (bucket 0 is padding)")
        if self.num_buckets > 2**32:
            raise ValueError("num_buckets must be at most 2**32")
        if self.max_features < 1:
            raise ValueError("max_features must be at least 1")
        if any(n < 1 for n in (*self.word_ngrams, *self.char_ngrams)):
            raise ValueError("n-gram lengths must be positive")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["word_ngrams"] = list(self.word_ngrams)
        data["char_ngrams"] = list(self.char_ngrams)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        return cls(
            num_buckets=int(data["num_buckets"]),
            word_ngrams=tuple(int(n) for n in data["word_ngrams"]),
            char_ngrams=tuple(int(n) for n in data["char_ngrams"]),
            max_features=int(data["max_features"]),
        )


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: every input bit affects every output bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _powers(base: int, count: int) -> np.ndarray:
    """base**0 .. base**(count-1) modulo 2**64."""
    out = np.full(count, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)


class _Batch:
    """A batch of texts as one padded byte buffer with its word boundaries."""

    def __init__(self, texts: Sequence[str]) -> None:
        encoded = [_PAD + text.lower().encode("utf-8", "replace") + _PAD for text in texts]
        self.lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        self.ends = np.cumsum(self.lengths)
        self.starts = self.ends - self.lengths
        self.data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        # +1 so that a NUL byte still contributes to a hash.
        self.codes = self.data.astype(np.uint64) + np.uint64(1)
        # The index of the text each byte belongs to.
        self.text_of = np.repeat(np.arange(len(encoded), dtype=np.int64), self.lengths)

    def words(self) -> tuple[np.ndarray, np.ndarray]:
        """Start (inclusive) and end (exclusive) byte positions of every word."""
        data = self.data
        is_word = (data >= 0x80) | ((data | 0x20) - ord("a") < 26) | (data - ord("0") < 10)
        edges = np.diff(is_word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


class HashingFeaturizer:
    """Texts → (ids int64 [B, L], mask float32 [B, L]), L = longest row, ≤ max_features.

    Row order within a text: marker, word n-grams by n, char n-grams by n. A text with
    more than ``max_features`` features keeps the first ones (its char n-grams are cut).
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self._pow = np.ones(1, dtype=np.uint64)
        self._inv_pow = np.ones(1, dtype=np.uint64)

    def transform(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        batch = _Batch(texts)
        size = len(batch.lengths)
        text_ids = [np.arange(size, dtype=np.int64)]
        hashes = [np.full(size, _MARKER_SALT, dtype=np.uint64)]
        self._word_features(batch, text_ids, hashes)
        self._char_features(batch, text_ids, hashes)
        return self._pad(size, np.concatenate(text_ids), self._bucket(np.concatenate(hashes)))

    def _ensure_powers(self, count: int) -> None:
        if len(self._pow) < count:
            count = max(count, 2 * len(self._pow))
            self._pow = _powers(_BASE, count)
            self._inv_pow = _powers(_BASE_INV, count)

    def _word_features(
        self, batch: _Batch, text_ids: list[np.ndarray], hashes: list[np.ndarray]
    ) -> None:
        if not self.config.word_ngrams:
            return
        starts, ends = batch.words()
        total = len(batch.data)
        self._ensure_powers(total + 1)
        prefix = np.zeros(total + 1, dtype=np.uint64)
        np.cumsum(batch.codes * self._inv_pow[:total], out=prefix[1:])
        word_hash = (prefix[ends] - prefix[starts]) * self._pow[ends - 1]
        word_text = batch.text_of[starts]
        for n in self.config.word_ngrams:
            count = len(word_hash) - n + 1
            if count <= 0:
                continue
            combined = word_hash[:count].copy()
            for k in range(1, n):
                combined = _mix(combined) * np.uint64(_BASE) + word_hash[k : k + count]
            same_text = word_text[:count] == word_text[n - 1 : n - 1 + count]
            text_ids.append(word_text[:count][same_text])
            hashes.append(combined[same_text] ^ np.uint64(_WORD_SALT + n))

    def _char_features(
        self, batch: _Batch, text_ids: list[np.ndarray], hashes: list[np.ndarray]
    ) -> None:
        codes, total = batch.codes, len(batch.codes)
        for n in self.config.char_ngrams:
            count = total - n + 1
            if count <= 0:
                continue
            window = codes[:count].copy()
            for k in range(1, n):
                window = window * np.uint64(_BASE) + codes[k : k + count]
            # Keep windows that end inside the text they start in.
            window_text = batch.text_of[:count]
            inside = np.arange(n, count + n) <= batch.ends[window_text]
            text_ids.append(window_text[inside])
            hashes.append(window[inside] ^ np.uint64(_CHAR_SALT + n))

    def _bucket(self, hashes: np.ndarray) -> np.ndarray:
        # Multiply-high reduction of the top 32 bits (no division): uniform in [1, buckets).
        top = _mix(hashes) >> np.uint64(32)
        buckets = (top * np.uint64(self.config.num_buckets - 1)) >> np.uint64(32)
        return buckets.astype(np.int64) + 1

    def _pad(
        self, size: int, text_ids: np.ndarray, buckets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(text_ids, kind="stable")
        text_ids, buckets = text_ids[order], buckets[order]
        counts = np.bincount(text_ids, minlength=size)
        first = np.cumsum(counts) - counts
        column = np.arange(len(text_ids)) - first[text_ids]
        length = int(min(counts.max(initial=0), self.config.max_features))
        keep = column < length
        flat = text_ids[keep] * length + column[keep]
        ids = np.zeros(size * length, dtype=np.int64)
        mask = np.zeros(size * length, dtype=np.float32)
        ids[flat] = buckets[keep]
        mask[flat] = 1.0
        return ids.reshape(size, length), mask.reshape(size, length)

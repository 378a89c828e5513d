"""Hashed word and character n-grams: the one featuriser shared by training and serving.

Everything after the per-text ``lower().encode()`` is vectorised over the whole batch
(a Python loop per token was measured as 90% of end-to-end time):

1. The batch is one uint8 buffer; each text is padded with a space on both sides.
2. One prefix sum gives a position-free hash of any byte range: with
   ``G[i] = sum_{j<i} code[j] * B**-j`` (B odd, so invertible modulo 2**64), the range
   [a, b) hashes to ``(G[b] - G[a]) * B**(b-1)`` = ``sum code[j] * B**(b-1-j)``.
   (Exponents count from each text's start, which changes nothing within a text.)
3. Character n-grams are the n-byte windows inside each padded text (punctuation and the
   pads included, so " car" marks a word start); windows that overrun a text are dropped.
4. Words are maximal runs of word bytes (ASCII letters and digits, and every byte >= 0x80
   so non-Latin scripts form words). Word n-grams combine the hashes of n consecutive
   words of the same text.
5. Every hash gets a salt per feature kind, is mixed (splitmix64 finaliser) and reduced to
   a bucket in [1, num_buckets); bucket 0 is padding. Column 0 of each row is a marker
   feature, so an empty text still has a non-empty row.
6. The padded [batch, length] matrix is filled by one scatter: a feature's column is the
   offset of its kind within its text (from per-text counts) plus its rank in that kind.

All hash arithmetic is uint64 and wraps modulo 2**64 on purpose.
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
    num_buckets: int = 2**16
    word_ngrams: tuple[int, ...] = (1, 2)
    char_ngrams: tuple[int, ...] = (4,)
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
    """A batch of texts as one padded byte buffer, with a position-free substring hash."""

    def __init__(self, texts: Sequence[str], powers: _Powers) -> None:
        encoded = [_PAD + text.lower().encode("utf-8", "replace") + _PAD for text in texts]
        self.size = len(encoded)
        self.lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=self.size)
        self.ends = np.cumsum(self.lengths)
        self.starts = self.ends - self.lengths
        self.data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        # The index of the text each byte belongs to.
        self.text_of = np.repeat(np.arange(self.size, dtype=np.int64), self.lengths)
        total = len(self.data)
        # Each byte's offset in its text, and the bytes from it to the end of its text.
        self.rank = np.arange(total) - self.starts[self.text_of]
        self.remaining = self.lengths[self.text_of] - self.rank
        # Exponents count from each text's start, so the cached powers only need to
        # cover the longest text (not the whole batch); range hashes are unchanged.
        self._pow, inv_pow = powers.upto(int(self.lengths.max(initial=0)))
        # +1 so that a NUL byte still contributes to a hash.
        codes = self.data.astype(np.uint64) + np.uint64(1)
        self._prefix = np.zeros(total + 1, dtype=np.uint64)
        np.cumsum(codes * inv_pow[self.rank], out=self._prefix[1:])

    def substring_hash(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Hash of the bytes [start, end) of one text: equal substrings hash equal."""
        return (self._prefix[ends] - self._prefix[starts]) * self._pow[self.rank[ends - 1]]

    def window_hash(self, n: int) -> np.ndarray:
        """Hash of every n-byte window, by start position (windows that overrun their
        text get meaningless hashes; callers drop them)."""
        count = max(len(self.data) - n + 1, 0)
        spans = self._prefix[n : n + count] - self._prefix[:count]
        return spans * self._pow[self.rank[n - 1 : n - 1 + count]]

    def words(self) -> tuple[np.ndarray, np.ndarray]:
        """Start (inclusive) and end (exclusive) byte positions of every word."""
        data = self.data
        is_word = (data >= 0x80) | ((data | 0x20) - ord("a") < 26) | (data - ord("0") < 10)
        # Every text starts and ends with a pad byte, so no word touches the buffer's ends.
        before, after = is_word[:-1], is_word[1:]
        return np.flatnonzero(after & ~before) + 1, np.flatnonzero(before & ~after) + 1


class _Powers:
    """Cached powers of the hash base and of its inverse modulo 2**64."""

    def __init__(self) -> None:
        self._pow = np.ones(1, dtype=np.uint64)
        self._inv_pow = np.ones(1, dtype=np.uint64)

    def upto(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._pow) < count:
            count = max(count, 2 * len(self._pow))
            self._pow, self._inv_pow = _powers(_BASE, count), _powers(_BASE_INV, count)
        return self._pow, self._inv_pow


@dataclass
class _Block:
    """Features of one kind: a hash, its text and its rank among that text's features."""

    hashes: np.ndarray  # uint64 [n]
    text: np.ndarray  # int64 [n]
    rank: np.ndarray  # int64 [n]
    valid: np.ndarray  # bool [n]; invalid entries are windows that cross texts
    per_text: np.ndarray  # int64 [batch]: valid features per text


class HashingFeaturizer:
    """Texts → (ids int64 [B, L], mask float32 [B, L]), L = longest row, ≤ max_features.

    Row order within a text: marker, word n-grams by n, char n-grams by n (each block in
    text order). A text with
    more than ``max_features`` features keeps the first ones (its char n-grams are cut).
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self._powers = _Powers()
        self._marker_bucket = int(self._bucket(np.array([_MARKER_SALT], dtype=np.uint64))[0])

    def transform(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        batch, blocks, offsets, counts = self._layout(texts)
        longest = int(counts.max(initial=0))
        length = min(longest, self.config.max_features)
        starts = np.arange(batch.size) * length
        ids = self._scatter(batch, blocks, offsets, starts, batch.size * length)
        ids = ids.reshape(batch.size, length)
        return ids, (ids != 0).astype(np.float32)

    def transform_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The same features without padding: (ids int64 [N], offsets int64 [B + 1]);
        text i's features are ``ids[offsets[i]:offsets[i + 1]]``, in ``transform``'s
        order. Equal to ``ids[mask > 0]`` of ``transform``, row after row."""
        batch, blocks, offsets, counts = self._layout(texts)
        lengths = np.minimum(counts, self.config.max_features)
        bounds = np.zeros(batch.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=bounds[1:])
        return self._scatter(batch, blocks, offsets, bounds[:-1], int(bounds[-1])), bounds

    def _layout(self, texts: Sequence[str]) -> tuple[_Batch, list[_Block], np.ndarray, np.ndarray]:
        """The batch, its feature blocks, each block's first column per text [blocks + 1,
        batch] (row 0: the marker), and each text's feature count before the cap."""
        batch = _Batch(texts, self._powers)
        blocks = [*self._word_blocks(batch), *self._char_blocks(batch)]
        # Column 0 of every row is the marker; the blocks follow it in order.
        per_text = np.stack([np.ones(batch.size, dtype=np.int64)] + [b.per_text for b in blocks])
        offsets = np.cumsum(per_text, axis=0) - per_text
        return batch, blocks, offsets, per_text.sum(axis=0)

    def _scatter(
        self,
        batch: _Batch,
        blocks: list[_Block],
        offsets: np.ndarray,
        row_start: np.ndarray,
        size: int,
    ) -> np.ndarray:
        """Buckets at ``row_start[text] + column`` of a flat int64 array of ``size`` cells
        (0 where no feature lands); features past ``max_features`` in a text are dropped."""
        cap = self.config.max_features
        trash = size  # one extra cell that absorbs invalid windows and cut features
        flat = np.zeros(size + 1, dtype=np.int64)
        flat[row_start[row_start < size]] = self._marker_bucket
        destinations, hashes = [], []
        for block, offset in zip(blocks, offsets[1:], strict=True):
            column = offset[block.text] + block.rank
            keep = block.valid & (column < cap)
            destinations.append(np.where(keep, row_start[block.text] + column, trash))
            hashes.append(block.hashes)
        if blocks:
            flat[np.concatenate(destinations)] = self._bucket(np.concatenate(hashes))
        return flat[:size]

    def _word_blocks(self, batch: _Batch) -> list[_Block]:
        if not self.config.word_ngrams:
            return []
        starts, ends = batch.words()
        word_hash = batch.substring_hash(starts, ends)
        word_text = batch.text_of[starts]
        per_text = np.bincount(word_text, minlength=batch.size)
        rank = np.arange(len(starts)) - (np.cumsum(per_text) - per_text)[word_text]
        blocks = []
        for n in self.config.word_ngrams:
            count = max(len(word_hash) - n + 1, 0)
            combined = word_hash[:count].copy()
            for k in range(1, n):
                combined = _mix(combined) * np.uint64(_BASE) + word_hash[k : k + count]
            blocks.append(
                _Block(
                    hashes=combined ^ np.uint64(_WORD_SALT + n),
                    text=word_text[:count],
                    rank=rank[:count],
                    valid=word_text[:count] == word_text[n - 1 : n - 1 + count],
                    per_text=np.maximum(per_text - n + 1, 0),
                )
            )
        return blocks

    def _char_blocks(self, batch: _Batch) -> list[_Block]:
        blocks = []
        for n in self.config.char_ngrams:
            count = max(len(batch.data) - n + 1, 0)
            blocks.append(
                _Block(
                    hashes=batch.window_hash(n) ^ np.uint64(_CHAR_SALT + n),
                    text=batch.text_of[:count],
                    rank=batch.rank[:count],
                    valid=batch.remaining[:count] >= n,
                    per_text=np.maximum(batch.lengths - n + 1, 0),
                )
            )
        return blocks

    def _bucket(self, hashes: np.ndarray) -> np.ndarray:
        # Multiply-high reduction of the top 32 bits (no division): uniform in [1, buckets).
        top = _mix(hashes) >> np.uint64(32)
        buckets = (top * np.uint64(self.config.num_buckets - 1)) >> np.uint64(32)
        return buckets.view(np.int64) + 1

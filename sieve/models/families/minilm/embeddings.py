"""Sentence embeddings from the cached int8 encoder, with a cache of the texts seen before.

Training embeds its texts with the same int8 graph that serving runs, so the head is
trained on exactly the features it will see. Retraining mostly sees texts it embedded in
an earlier run: the cache (SQLite beside the encoder, keyed by the text's sha256 and the
encoder id) means only new texts go through the encoder.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

import numpy as np

from sieve.models.classifier import open_session
from sieve.models.families.minilm.encoder import EMBEDDING_OUTPUT, Encoder
from sieve.models.families.minilm.tokens import TokenFeaturizer

CACHE_FILE = "embeddings.sqlite"
ENCODE_BATCH = 256
CHUNK_ROWS = 32
_LOOKUP_CHUNK = 500  # SQLite's host-parameter limit is 999 on old builds


class EmbeddingCache:
    """float32 vectors by (encoder id, sha256 of the text) in one SQLite file."""

    def __init__(self, path: Path, encoder_id: str) -> None:
        self.path = path
        self.encoder_id = encoder_id
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (encoder_id TEXT NOT NULL,"
                " text_sha256 TEXT NOT NULL, vector BLOB NOT NULL,"
                " PRIMARY KEY (encoder_id, text_sha256))"
            )

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with closing(self._connect()) as conn:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = list(keys[start : start + _LOOKUP_CHUNK])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT text_sha256, vector FROM embeddings WHERE encoder_id = ?"
                    f" AND text_sha256 IN ({marks})",
                    [self.encoder_id, *chunk],
                )
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [
            (self.encoder_id, key, np.asarray(v, dtype=np.float32).tobytes())
            for key, v in vectors.items()
        ]
        with closing(self._connect()) as conn, conn:
            conn.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)", rows)


class Embedder:
    """Texts → L2-normalised embeddings float32 [N, D] through the int8 encoder.

    ``encoded_texts`` counts the texts that went through the encoder (cache misses)."""

    def __init__(
        self, encoder: Encoder, *, num_threads: int = 1, cache: EmbeddingCache | None = None
    ) -> None:
        self.encoder = encoder
        self.session = open_session(encoder.path, num_threads)
        self.featurizer = TokenFeaturizer(encoder.tokenizer_path)
        self.cache = cache
        self.encoded_texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.encoder.dim), dtype=np.float32)
        keys = [text_key(text) for text in texts]
        found = self.cache.get(sorted(set(keys))) if self.cache is not None else {}
        missing = sorted(
            {key: text for key, text in zip(keys, texts, strict=True) if key not in found}.items()
        )
        fresh: dict[str, np.ndarray] = {}
        for start in range(0, len(missing), ENCODE_BATCH):
            chunk = missing[start : start + ENCODE_BATCH]
            vectors = self._encode([text for _, text in chunk])
            fresh.update((key, vector) for (key, _), vector in zip(chunk, vectors, strict=True))
        self.encoded_texts += len(missing)
        if self.cache is not None and fresh:
            self.cache.put(fresh)
        found.update(fresh)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        ids, mask = self.featurizer.transform(texts)
        counts = mask.sum(axis=1)
        order = np.argsort(counts, kind="stable")
        out = np.empty((len(texts), self.encoder.dim), dtype=np.float32)
        for start in range(0, len(order), CHUNK_ROWS):
            rows = order[start : start + CHUNK_ROWS]
            length = max(int(counts[rows[-1]]), 1)
            feeds = {"ids": ids[rows, :length], "mask": mask[rows, :length]}
            out[rows] = self.session.run([EMBEDDING_OUTPUT], feeds)[0]
        return out


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

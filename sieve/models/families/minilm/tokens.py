"""Texts → padded token ids with the `tokenizers` fast tokenizer (no torch, no transformers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from sieve.core.errors import PermanentError

MAX_TOKENS = 128


class TokenFeaturizer:
    """(ids int64 [B, L], mask float32 [B, L]), L = the longest row (≤ ``max_tokens``).

    Rows are padded only to the longest row of the batch; the classifier then runs them in
    length-sorted chunks cut to each chunk's own longest row (padding every row to a fixed
    64 tokens cost 3-4x when measured here).
    """

    def __init__(self, tokenizer_path: Path, max_tokens: int = MAX_TOKENS) -> None:
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises plain Exception for a bad file
            raise PermanentError(f"{tokenizer_path}: cannot load the tokenizer: {exc}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.max_tokens = max_tokens

    def transform(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        width = max(int(lengths.max(initial=0)), 1)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : lengths[row]] = encoding.ids
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.float32)
        return ids, mask

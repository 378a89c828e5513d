"""The minilm family's extra figures: the transformers pipeline on the same weights and
texts (torch, the baseline the int8 graph must beat), and retraining time on 10,000 labels
with the embedding cache cold, then warm."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sieve.core.dataset import read_labeled_jsonl
from sieve.models.families import get_family
from sieve.models.families.minilm import MiniLMStudent
from sieve.models.families.minilm.encoder import ENCODER_FILE, TOKENIZER_FILE, cached_encoder
from sieve.models.families.minilm.tokens import MAX_TOKENS
from sieve.models.registry import ModelRegistry

logger = logging.getLogger(__name__)

RETRAIN_LABELS = 10_000
Timer = Callable[[Callable[[int], object], list[int], float], tuple[int, int, float]]


def pipeline_rows(
    texts: list[str], batch_sizes: Sequence[int], duration_s: float, threads: int, timer: Timer
) -> list[dict[str, Any]]:
    """items/s of ``transformers.pipeline("feature-extraction")`` (torch, eager, fp32)."""
    import torch
    from transformers import pipeline

    from sieve.models.families.minilm.encoder import weights_dir

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        extractor = pipeline(
            "feature-extraction",
            model=str(weights_dir()),
            device="cpu",
            tokenize_kwargs={"truncation": True, "max_length": MAX_TOKENS},
        )
        rows = []
        for batch_size in batch_sizes:
            batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
            sizes = [len(batch) for batch in batches]

            def call(
                index: int, batches: list[list[str]] = batches, batch_size: int = batch_size
            ) -> object:
                return extractor(batches[index], batch_size=batch_size)

            items, calls, elapsed_s = timer(call, sizes, duration_s)
            rows.append(
                {
                    "batch_size": batch_size,
                    "stage": "pipeline",
                    "items_per_s": items / elapsed_s,
                    "latency_ms": 1000.0 * elapsed_s / calls,
                    "items": items,
                }
            )
        return rows
    finally:
        torch.set_num_threads(previous)


def retrain_rows(
    data_path: Path, cache_dir: Path, threads: int, count: int = RETRAIN_LABELS
) -> list[dict[str, Any]]:
    """Train + save a minilm model on ``count`` labels twice: with an empty embedding cache
    (the encoder export itself excluded: it happens once per machine), then warm."""
    records = read_labeled_jsonl(data_path)[:count]
    label_set = sorted({r.label for r in records})
    encoder = cached_encoder(cache_dir)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sieve-bench-retrain-") as tmp:
        cold_cache = Path(tmp) / "cache"
        (cold_cache / encoder.id).mkdir(parents=True)
        for name in (ENCODER_FILE, TOKENIZER_FILE):
            shutil.copyfile(encoder.folder / name, cold_cache / encoder.id / name)
        registry = ModelRegistry(Path(tmp) / "models", cache_dir=cold_cache)
        options = registry.train_options(seed=0, epochs=None, num_threads=threads)
        for phase in ("cold", "warm"):
            started = time.perf_counter()
            student = get_family("minilm").train(
                [r.text for r in records], [r.label for r in records], label_set, options
            )
            registry.save(student, data_hash=phase, metrics={})
            elapsed_s = time.perf_counter() - started
            assert isinstance(student, MiniLMStudent)
            rows.append(
                {
                    "cache": phase,
                    "labels": len(records),
                    "encoded": student.encoded_texts,
                    "seconds": elapsed_s,
                }
            )
    return rows


def format_retrain(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'cache':<6} {'labels':>7} {'encoded':>8} {'seconds':>8}"]
    for row in rows:
        lines.append(
            f"{row['cache']:<6} {row['labels']:>7} {row['encoded']:>8} {row['seconds']:>8.1f}"
        )
    return "\n".join(lines)

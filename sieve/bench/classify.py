"""Classify benchmark: featurise + onnxruntime inference, in items/s, with the split.

For each batch size it measures three things over the texts of a labeled file:
``featurise`` (texts → ids, mask; tokenisation for minilm), ``infer`` (onnxruntime on
features computed beforehand) and ``end_to_end`` (``predict_proba``, what the stream
worker calls). Without ``--model`` it first trains a model of ``--family`` on the data.
For minilm it adds the transformers pipeline on the same weights and texts, and the
retraining time on 10,000 labels with the embedding cache cold and warm.

    python -m sieve.bench.classify --data data/banking77/test.jsonl [--model DIR]
    python -m sieve.bench.classify --data data/banking77/train.jsonl --family minilm
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from sieve.bench.figures import Figure
from sieve.core.dataset import read_labeled_jsonl
from sieve.models.classifier import MODEL_FILE, OnnxClassifier
from sieve.models.families import Family, load_classifier
from sieve.models.families.ngram.export import padded_graph, save_graph
from sieve.models.registry import ModelRegistry
from sieve.models.train_file import train_family_file

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZES = (1, 256)
# Alternating rounds of the flat and the padded graph in `figures`.
ROUNDS = 3
# The MiniLM targets are stated at batch 64 on 2 cores.
MINILM_BATCH_SIZES = (1, 64)
MINILM_THREADS = 2


def run(
    data_path: Path,
    model_dir: Path | None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    *,
    duration_s: float = 2.0,
    intra_op_num_threads: int = 1,
    family: str = Family.NGRAM.value,
    cache_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """One row per (batch size, stage): items/s and mean latency per batch. ``cache_dir``:
    where a family keeps its derived files (the MiniLM encoder); a temporary one if None."""
    texts = [record.text for record in read_labeled_jsonl(data_path)]
    if not texts:
        raise ValueError(f"{data_path}: no texts")
    if model_dir is not None:
        return _measure(
            load_classifier(model_dir, intra_op_num_threads=intra_op_num_threads),
            texts,
            batch_sizes,
            duration_s,
        )
    with tempfile.TemporaryDirectory(prefix="sieve-bench-classify-") as tmp:
        registry = ModelRegistry(Path(tmp), cache_dir=cache_dir)
        options = registry.train_options(seed=0, epochs=None, num_threads=intra_op_num_threads)
        started = time.perf_counter()
        info, _ = train_family_file(data_path, registry, family, options, eval_path=None)
        logger.info("trained %s in %.1f s", info.version, time.perf_counter() - started)
        classifier = load_classifier(info.path, intra_op_num_threads=intra_op_num_threads)
        return _measure(classifier, texts, batch_sizes, duration_s)


def _measure(
    classifier: OnnxClassifier, texts: list[str], batch_sizes: Sequence[int], duration_s: float
) -> list[dict[str, Any]]:
    rows = []
    for batch_size in batch_sizes:
        batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        stages = _stages(classifier, batches)
        sizes = [len(batch) for batch in batches]
        for stage, call in stages.items():
            items, calls, elapsed_s = _time(call, sizes, duration_s)
            rows.append(
                {
                    "batch_size": batch_size,
                    "stage": stage,
                    "items_per_s": items / elapsed_s,
                    "latency_ms": 1000.0 * elapsed_s / calls,
                    "items": items,
                }
            )
    return rows


def _stages(
    classifier: OnnxClassifier, batches: list[list[str]]
) -> dict[str, Callable[[int], object]]:
    features = [classifier.features(batch) for batch in batches]
    return {
        "featurise": lambda i: classifier.features(batches[i]),
        "infer": lambda i: classifier.infer(*features[i]),
        "end_to_end": lambda i: classifier.predict_proba(batches[i]),
    }


def _time(
    call: Callable[[int], object], sizes: list[int], duration_s: float
) -> tuple[int, int, float]:
    """Call batch after batch, cycling over the data, for about ``duration_s``."""
    call(0)  # warm-up
    items = calls = 0
    started = time.perf_counter()
    while True:
        index = calls % len(sizes)
        call(index)
        items += sizes[index]
        calls += 1
        elapsed_s = time.perf_counter() - started
        if elapsed_s >= duration_s:
            return items, calls, elapsed_s


def figures(data_path: Path, *, duration_s: float = 1.0) -> list[Figure]:
    """The n-gram student's figures: end to end at batch 256 (items/s) and batch 1 (ms),
    with the featurise / infer split, one intra-op thread (the stream worker's setting).
    Baseline: the same weights in the padded (ids, mask) graph served in length-sorted
    chunks, as n-gram students were before the flat graph, measured in the same run."""
    texts = [record.text for record in read_labeled_jsonl(data_path)]
    with tempfile.TemporaryDirectory(prefix="sieve-bench-classify-") as tmp:
        registry = ModelRegistry(Path(tmp) / "models")
        options = registry.train_options(seed=0, epochs=None, num_threads=1)
        info, _ = train_family_file(
            data_path, registry, Family.NGRAM.value, options, eval_path=None
        )
        flat_classifier = load_classifier(info.path)
        padded_classifier = load_classifier(_padded_copy(info.path, Path(tmp) / "padded"))
        # Alternating rounds, the median of each: whichever ran first would otherwise
        # carry the warm-up and any drift of the machine's load.
        flat_rounds, padded_rounds = [], []
        for _ in range(ROUNDS):
            flat_rounds.append(_measure(flat_classifier, texts, DEFAULT_BATCH_SIZES, duration_s))
            padded_rounds.append(
                _measure(padded_classifier, texts, DEFAULT_BATCH_SIZES, duration_s)
            )
    now, before = _median_rows(flat_rounds), _median_rows(padded_rounds)
    command = f"sieve bench classify --family ngram --data {data_path}"
    note = "n-gram student trained on the data file, its texts, 1 intra-op thread"
    baseline_of = "padded graph in length-sorted chunks of 32 (before), same weights, same run"
    out = []
    for stage, suffix in (("end_to_end", ""), ("featurise", ".featurise"), ("infer", ".infer")):
        for batch, key, unit, target in (
            (256, "items_per_s", "items/s", "≥ 100,000"),
            (1, "latency_ms", "ms", "≤ 0.2 ms"),
        ):
            name = f"classify.batch{batch}{suffix}." + ("items_per_s" if batch > 1 else "ms")
            out.append(
                Figure(
                    name,
                    now[(batch, stage)][key],
                    unit,
                    baseline=before[(batch, stage)][key],
                    baseline_of=baseline_of,
                    target="" if suffix else target,
                    command=command,
                    note=note,
                )
            )
    return out


def _median_rows(rounds: list[list[dict[str, Any]]]) -> dict[tuple[int, str], dict[str, float]]:
    """(batch size, stage) → the median items/s and ms/batch over the rounds."""
    out: dict[tuple[int, str], dict[str, float]] = {}
    for row in rounds[0]:
        key = (row["batch_size"], row["stage"])
        same = [r for rows in rounds for r in rows if (r["batch_size"], r["stage"]) == key]
        out[key] = {
            "items_per_s": float(np.median([r["items_per_s"] for r in same])),
            "latency_ms": float(np.median([r["latency_ms"] for r in same])),
        }
    return out


def _padded_copy(artefact_dir: Path, destination: Path) -> Path:
    """The artefact with its flat graph replaced by the padded one on the same weights."""
    shutil.copytree(artefact_dir, destination)
    graph = onnx.load(str(artefact_dir / MODEL_FILE)).graph
    arrays = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    table, weight, bias = arrays["table"], arrays["weight"], arrays["bias"]
    save_graph(padded_graph(table, weight, bias), destination / MODEL_FILE)
    return destination


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'batch':>6}  {'stage':<11} {'items/s':>12} {'ms/batch':>10}"]
    for row in rows:
        lines.append(
            f"{row['batch_size']:>6}  {row['stage']:<11} {row['items_per_s']:>12,.0f}"
            f" {row['latency_ms']:>10.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="sieve bench classify", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="labeled JSON Lines file")
    parser.add_argument("--model", type=Path, help="artefact folder (default: train one)")
    parser.add_argument("--family", choices=[f.value for f in Family], default=Family.NGRAM)
    parser.add_argument("--cache-dir", type=Path, help="encoder cache (default: temporary)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", help="default: 1 256 (minilm: 1 64)")
    parser.add_argument("--duration-s", type=float, default=2.0, help="per measurement")
    parser.add_argument("--threads", type=int, help="intra-op threads (default 1; minilm: 2)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="minilm: skip the pipeline and retraining"
    )
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    minilm = args.family == Family.MINILM
    batch_sizes = args.batch_sizes or (MINILM_BATCH_SIZES if minilm else DEFAULT_BATCH_SIZES)
    threads = args.threads or (MINILM_THREADS if minilm else 1)
    with tempfile.TemporaryDirectory(prefix="sieve-bench-cache-") as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        rows = run(
            args.data,
            args.model,
            batch_sizes,
            duration_s=args.duration_s,
            intra_op_num_threads=threads,
            family=args.family,
            cache_dir=cache_dir,
        )
        if minilm and not args.no_baseline:
            from sieve.bench import minilm as minilm_bench

            texts = [record.text for record in read_labeled_jsonl(args.data)]
            rows += minilm_bench.pipeline_rows(texts, batch_sizes, args.duration_s, threads, _time)
            rows.sort(key=lambda row: row["batch_size"])
            retrain = minilm_bench.retrain_rows(args.data, cache_dir, threads)
    print(f"{args.family}, {threads} intra-op threads")
    print(format_table(rows))
    if minilm and not args.no_baseline:
        print("\nretraining (train + save) on labels of the data file:")
        print(minilm_bench.format_retrain(retrain))


if __name__ == "__main__":
    main()

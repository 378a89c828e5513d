"""`sieve bench cascade --data-dir DIR`: the cascade's learning curve and operating points.

For each student family, streams a data directory's ``train.jsonl`` (in a seeded order)
then ``test.jsonl`` through the real system — embedded Kafka-protocol broker, stream
worker, Celery worker, the teacher simulator (80% accurate, confusable noise) over HTTP,
retraining — exactly as `sieve demo` does, and measures:

- ``stream``: defaults; the learning curve per 1,000 messages; in the test phase the share,
  accuracy and kept precision beside LLM only, the ECE of the routing score and the AUROC
  of "the student is wrong"; and a sweep of operating points replayed on the final model
  (target precisions fitted as retraining fits them, and target shares).
- ``defaults``: cold start on 2,000 messages, one retraining, then the next 1,000.
- ``gold``: 500 training items registered as a human gold set, target precision 0.95.
- ``share``: a target LLM share of 15%.
- ``unseen``: a few labels held out of the train phase; how many of their test messages
  escalate.

Nothing assumes Banking77: the label set is ``labels.txt`` beside the data, else the labels
of its ``train.jsonl`` (as `sieve demo --data-dir` takes it). Results are printed and
appended to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sieve.bench.cascade_report import VariantResult, measure, write_results
from sieve.core.dataset import LabeledText, label_set_for_data_dir, read_labeled_jsonl
from sieve.core.errors import PermanentError
from sieve.core.settings import Settings
from sieve.demo.run import run_loop

VARIANTS = ("stream", "defaults", "gold", "share", "unseen")
FAMILIES = ("ngram", "minilm")
GOLD_ITEMS = 500
HELD_OUT_LABELS = 5
ORDER_SEED = 77


@dataclass(frozen=True)
class Variant:
    name: str
    items: list[LabeledText]  # the stream, in order
    test_ids: frozenset[str]  # the test phase
    overrides: dict[str, str] = field(default_factory=dict)
    gold: list[LabeledText] = field(default_factory=list)
    held_out: frozenset[str] = frozenset()


def make_variant(name: str, data_dir: Path, labels: Sequence[str]) -> Variant:
    train = read_labeled_jsonl(data_dir / "train.jsonl")
    random.Random(ORDER_SEED).shuffle(train)
    test = read_labeled_jsonl(data_dir / "test.jsonl")
    test_ids = frozenset(item.id for item in test)
    if name == "stream":
        return Variant(name, train + test, test_ids)
    if name == "defaults":
        first = train[:3_000]
        once = {"SIEVE_RETRAIN__MIN_LABELS": "2000", "SIEVE_RETRAIN__MIN_NEW_LABELS": "1000000"}
        return Variant(name, first, frozenset(item.id for item in first[2_000:]), once)
    if name == "gold":
        gold, rest = train[-GOLD_ITEMS:], train[:-GOLD_ITEMS]
        target = {"SIEVE_ROUTING__TARGET_PRECISION": "0.95"}
        return Variant(name, rest + test, test_ids, target, gold=gold)
    if name == "share":
        return Variant(name, train + test, test_ids, {"SIEVE_ROUTING__TARGET_LLM_SHARE": "0.15"})
    if name == "unseen":
        held = frozenset(random.Random(ORDER_SEED).sample(sorted(labels), HELD_OUT_LABELS))
        seen_train = [item for item in train if item.label not in held]
        return Variant(name, seen_train + test, test_ids, held_out=held)
    raise PermanentError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")


def run_variant(
    settings: Settings,
    data_dir: Path,
    family: str,
    variant: Variant,
    work_dir: Path,
    chunk_size: int,
) -> VariantResult:
    print(f"\n== {family} / {variant.name}: {len(variant.items)} messages", flush=True)
    # One exported encoder and embedding cache for every run (results do not depend on it).
    encoders = settings.models.encoder_cache_dir or (settings.data_dir / "encoders").resolve()
    overrides = {
        "SIEVE_MODELS__FAMILY": family,
        "SIEVE_MODELS__ENCODER_CACHE_DIR": str(encoders),
        **variant.overrides,
    }
    gold_file = None
    if variant.gold:
        gold_file = work_dir / "gold.jsonl"
        gold_file.write_text("".join(json.dumps(vars(item)) + "\n" for item in variant.gold))
    result = run_loop(
        settings,
        variant.items,
        data_dir=data_dir,
        work_dir=work_dir,
        chunk_size=chunk_size,
        overrides=overrides,
        gold_file=gold_file,
    )
    return measure(family, variant, result, data_dir, work_dir)


def main(
    settings: Settings,
    *,
    data_dir: Path,
    families: Sequence[str] = FAMILIES,
    variants: Sequence[str] = VARIANTS,
    chunk_size: int = 500,
    out: Path = Path("bench/RESULTS.md"),
) -> int:
    for path in ("train.jsonl", "test.jsonl"):
        if not (data_dir / path).is_file():
            raise PermanentError(f"{data_dir / path} is missing (the cascade needs both)")
    labels = label_set_for_data_dir(data_dir)
    chosen = [make_variant(name, data_dir, labels) for name in variants]
    results: list[VariantResult] = []
    for family in families:
        for variant in chosen:
            with tempfile.TemporaryDirectory(prefix=f"cascade-{family}-{variant.name}-") as tmp:
                work_dir = Path(tmp)
                results.append(
                    run_variant(settings, data_dir, family, variant, work_dir, chunk_size)
                )
    write_results(results, data_dir, out)
    print(f"\nresults appended to {out}")
    return 0


def names(text: str) -> list[str]:
    """``"a, b"`` → ``["a", "b"]``: the CLI's comma-separated lists."""
    return [name.strip() for name in text.split(",") if name.strip()]

"""The figures of one `sieve bench cascade` run, read back from its store, and the tables
printed and appended to ``bench/RESULTS.md``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Engine

from sieve.bench.cascade_metrics import (
    OperatingPoint,
    auroc_of_errors,
    expected_calibration_error,
    operating_point,
    share_point,
)
from sieve.core.settings import RoutingSettings, Settings
from sieve.demo.report import Block, Outcome, block, outcomes
from sieve.demo.run import BLOCK, simulated_teacher
from sieve.labeler.sim.noise import Teacher
from sieve.models.registry import ModelRegistry
from sieve.routing.fit import fit_routing
from sieve.routing.policy import Reason
from sieve.store.engine import make_engine
from sieve.store.labels import gold_labels, training_labels
from sieve.store.versions import active_model_version
from sieve.workers.distill.retrain import stratified_split

if TYPE_CHECKING:
    from sieve.bench.cascade import Variant
    from sieve.demo.run import LoopResult

SWEEP_PRECISIONS = (None, 0.8, 0.85, 0.9, 0.95)
SWEEP_SHARES = (0.05, 0.1, 0.15, 0.2, 0.3)


@dataclass
class VariantResult:
    family: str
    variant: str
    blocks: list[Block]
    llm_labels: list[int]  # messages sent to the LLM before each block
    test: OperatingPoint
    llm_only: float  # the teacher's accuracy on the same messages
    ece: float | None
    auroc: float | None
    calls: int
    cost_usd: float
    sweep: list[OperatingPoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def measure(
    family: str, variant: Variant, result: LoopResult, data_dir: Path, work_dir: Path
) -> VariantResult:
    engine = make_engine(f"sqlite:///{work_dir / 'sieve.db'}")
    gold = {item.id: item.label for item in variant.items}
    texts = {item.id: item.text for item in variant.items}
    # The run's label set is the labels.txt run_loop wrote into the work folder.
    teacher = simulated_teacher(data_dir, work_dir / "labels.txt")
    test_ids = [item.id for item in variant.items if item.id in variant.test_ids]
    rows = outcomes(engine, test_ids)
    final = [row.final_label == gold[row.message_id] for row in rows]
    kept = [row for row in rows if not row.escalated]
    test = OperatingPoint(
        "realised",
        share=1.0 - len(kept) / max(len(rows), 1),
        accuracy=float(np.mean(final)) if final else 0.0,
        kept_precision=(
            float(np.mean([row.model_label == gold[row.message_id] for row in kept]))
            if kept
            else None
        ),
    )
    scored = [row for row in rows if row.model_label is not None]
    confidence = np.array([row.confidence for row in scored])
    correct = np.array([row.model_label == gold[row.message_id] for row in scored])
    llm_only = float(np.mean([teacher.choose(texts[mid]).label == gold[mid] for mid in test_ids]))
    counts = np.cumsum([b.llm_share * b.count for b in result.blocks]).round().astype(int)
    out = VariantResult(
        family=family,
        variant=variant.name,
        blocks=result.blocks,
        llm_labels=[0, *counts[:-1].tolist()],
        test=test,
        llm_only=llm_only,
        ece=expected_calibration_error(confidence, correct) if scored else None,
        auroc=auroc_of_errors(confidence, correct) if scored else None,
        calls=sum(row[1] for row in result.totals),
        cost_usd=sum(row[4] for row in result.totals),
    )
    if variant.name == "stream":
        out.sweep = _sweep(engine, work_dir, test_ids, texts, gold, teacher)
    if variant.name == "unseen":
        out.notes += _unseen(rows, gold, variant.held_out)
    if variant.name == "share":
        out.notes.append(
            "realised share per 1,000 test messages: "
            + ", ".join(f"{b.llm_share:.1%}" for b in _blocks(rows, gold))
        )
    engine.dispose()
    return out


def _blocks(rows: Sequence[Outcome], gold: dict[str, str]) -> list[Block]:
    return [block(start, rows[start : start + BLOCK], gold) for start in range(0, len(rows), BLOCK)]


def _unseen(rows: Sequence[Outcome], gold: dict[str, str], held: frozenset[str]) -> list[str]:
    notes = []
    for name, group in (
        ("held-out labels", [row for row in rows if gold[row.message_id] in held]),
        ("seen labels", [row for row in rows if gold[row.message_id] not in held]),
    ):
        if not group:
            continue
        escalated = sum(row.escalated for row in group) / len(group)
        unseen = sum(row.reason == Reason.UNSEEN for row in group) / len(group)
        notes.append(
            f"{name} ({len(group)} test messages): {escalated:.1%} escalated, "
            f"{unseen:.1%} with reason unseen"
        )
    return [f"held out: {', '.join(sorted(held))}", *notes]


def _sweep(
    engine: Engine,
    work_dir: Path,
    test_ids: list[str],
    texts: dict[str, str],
    gold: dict[str, str],
    teacher: Teacher,
) -> list[OperatingPoint]:
    """Operating points replayed on the final model: each target precision fitted on its
    held-out slice as retraining fits it; each target share over the test phase."""
    version = active_model_version(engine)
    if version is None:
        return []
    classifier = ModelRegistry(work_dir / "models").load(version)
    labels = list(classifier.labels)
    index = {label: i for i, label in enumerate(labels)}
    settings = Settings()
    rows = [row for row in training_labels(engine) if row.label in index]
    _, held = stratified_split(rows, settings.retrain.eval_fraction, settings.retrain.seed)
    golden = [row for row in gold_labels(engine) if row.label in index]
    slice_probs = classifier.predict_proba([row.text for row in held])
    slice_y = np.array([index[row.label] for row in held])
    gold_probs = classifier.predict_proba([row.text for row in golden]) if golden else None
    gold_y = np.array([index[row.label] for row in golden]) if golden else None
    probs = classifier.predict_proba([texts[mid] for mid in test_ids])
    student = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    y = np.array([index[gold[mid]] for mid in test_ids])
    taught = np.array([index[teacher.choose(texts[mid]).label] for mid in test_ids])
    points = []
    for target in SWEEP_PRECISIONS:
        routing = RoutingSettings(target_precision=target)
        fitted = fit_routing(
            slice_probs, slice_y, labels, routing, gold_probs=gold_probs, gold_labels=gold_y
        )
        limits = np.array([fitted.for_label(labels[i]) for i in student])
        name = f"precision {'auto' if target is None else target}"
        if fitted.target_precision is not None:
            name += f" (target {fitted.target_precision:.3f})"
        points.append(operating_point(name, confidence >= limits, student, taught, y))
    points += [share_point(share, confidence, student, taught, y) for share in SWEEP_SHARES]
    return points


def format_result(result: VariantResult) -> list[str]:
    lines = [f"### {result.family} / {result.variant}", ""]
    lines.append("| messages | LLM labels before | to LLM | accuracy | kept precision | model |")
    lines.append("| ---: | ---: | ---: | ---: | ---: | --- |")
    for item, labeled in zip(result.blocks, result.llm_labels, strict=True):
        kept = "-" if item.kept_precision is None else f"{item.kept_precision:.1%}"
        span = f"{item.start + 1}-{item.start + item.count}"
        lines.append(
            f"| {span} | {labeled:,} | {item.llm_share:.1%} | {item.accuracy:.1%} | {kept} "
            f"| {item.model_versions} |"
        )
    test = result.test
    kept = "-" if test.kept_precision is None else f"{test.kept_precision:.1%}"
    lines += [
        "",
        f"Test phase: **{test.share:.1%} to the LLM, accuracy {test.accuracy:.1%}** "
        f"(LLM only {result.llm_only:.1%}), kept precision {kept}; "
        f"ECE of the routing score {_fmt(result.ece, '.3f')}, "
        f"AUROC of 'student is wrong' {_fmt(result.auroc, '.3f')}; "
        f"{result.calls:,} LLM calls in the run, ${result.cost_usd:.4f}.",
    ]
    if result.sweep:
        lines += ["", "| operating point (test phase) | to LLM | accuracy | kept precision |"]
        lines.append("| --- | ---: | ---: | ---: |")
        for point in result.sweep:
            kept = "-" if point.kept_precision is None else f"{point.kept_precision:.1%}"
            lines.append(f"| {point.name} | {point.share:.1%} | {point.accuracy:.1%} | {kept} |")
        lines.append(f"| LLM only | 100% | {result.llm_only:.1%} | - |")
    lines += [f"- {note}" for note in result.notes]
    return [*lines, ""]


def write_results(results: Sequence[VariantResult], data_dir: Path, out: Path) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## `sieve bench cascade --data-dir {data_dir}` ({stamp})", ""]
    for result in results:
        lines += format_result(result)
    text = "\n".join(lines)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)

"""Distillation: stored labels retrain the fast model; the new version is promoted only if
it is at least as good as the active one on the same held-out slice.

`request_retrain` is what the admin API, the CLI and the beat schedule call; `run_retrain`
does the work (in a Celery task, or in-process for `sieve retrain --wait`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from sieve.core.errors import ModelNotFound, PermanentError, SieveError
from sieve.core.settings import RetrainSettings, RoutingSettings, Settings
from sieve.models.calibration import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    apply_temperature,
    fit_temperature,
    log_probs_as_logits,
)
from sieve.models.classifier import OnnxClassifier
from sieve.models.evaluation import Metrics, evaluate
from sieve.models.registry import ModelRegistry
from sieve.models.training import TrainConfig, train_ngram
from sieve.routing.thresholds import RoutingThresholds, fit_routing_thresholds
from sieve.store.coordination import acquire_lease, release_lease
from sieve.store.labels import TrainingLabel, gold_labels, training_labels
from sieve.store.repository import (
    ModelVersionRecord,
    activate_model_version,
    active_model_version,
    get_model_version,
    register_model_version,
)
from sieve.store.tables import model_activations
from sieve.store.training import create_run, get_run, pending_run, update_run
from sieve.workers.label_set import deployment_label_set

logger = logging.getLogger(__name__)

LEASE = "retrain"

__all__ = ["get_run", "promote", "request_retrain", "rollback", "run_retrain"]


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str


def request_retrain(settings: Settings, engine: Engine, *, trigger: str) -> str:
    """Queue a retraining run, or return the run already queued or running."""
    existing = pending_run(engine)
    if existing is not None:
        return existing
    run_id = create_run(engine, trigger)
    from sieve.workers.tasks import retrain

    retrain.apply_async(args=[run_id], queue=settings.celery.queue)
    return run_id


def run_retrain(
    settings: Settings,
    engine: Engine,
    registry: ModelRegistry,
    run_id: str,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train, evaluate, gate and maybe promote. One at a time: a run that finds the lease
    taken ends as `skipped`."""
    config = settings.retrain
    if not acquire_lease(engine, LEASE, run_id, config.lock_ttl_s):
        update_run(engine, run_id, status="skipped", error="another retraining is running")
        return _run(engine, run_id)
    try:
        update_run(engine, run_id, status="running")
        _train_and_gate(settings, engine, registry, run_id, progress)
    except SieveError as exc:
        logger.error("retraining run %s failed: %s", run_id, exc)
        update_run(engine, run_id, status="failed", error=str(exc))
    finally:
        release_lease(engine, LEASE, run_id)
    return _run(engine, run_id)


def _run(engine: Engine, run_id: str) -> dict[str, Any]:
    run = get_run(engine, run_id)
    assert run is not None
    return run


def _train_and_gate(
    settings: Settings,
    engine: Engine,
    registry: ModelRegistry,
    run_id: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    config = settings.retrain
    label_set = deployment_label_set(settings.labels_file)
    rows = [row for row in training_labels(engine) if row.label in set(label_set)]
    if len(rows) < config.min_labels:
        raise PermanentError(f"{len(rows)} usable labels, at least {config.min_labels} needed")
    train_rows, eval_rows = stratified_split(rows, config.eval_fraction, config.seed)
    eval_rows += [row for row in gold_labels(engine) if row.label in set(label_set)]
    logger.info(
        "run %s: %d training and %d evaluation labels", run_id, len(train_rows), len(eval_rows)
    )
    model = train_ngram(
        [row.text for row in train_rows],
        [row.label for row in train_rows],
        label_set,
        TrainConfig(seed=config.seed, epochs=config.epochs),
        progress=progress,
    )
    texts, gold = [row.text for row in eval_rows], [row.label for row in eval_rows]
    prompt_versions = sorted({row.prompt_version for row in rows if row.prompt_version})
    routing = calibrate(model.predict_proba(texts), gold, label_set, settings.routing)
    info = registry.save(
        model,
        data_hash=_data_hash(rows),
        metrics={"training_labels": len(train_rows), "prompt_versions": prompt_versions},
        routing=routing.to_dict(),
    )
    candidate = _metrics(OnnxClassifier.load(info.path), texts, gold, label_set)
    active = _active_metrics(engine, texts, gold, label_set)
    gate = promotion_gate(candidate, active, config)
    metrics = {
        **candidate.to_dict(),
        "evaluation_labels": len(eval_rows),
        "training_labels": len(train_rows),
        "label_counts": _counts(train_rows),
        "prompt_versions": prompt_versions,
        "active_on_same_slice": active.to_dict() if active else None,
        "gate": gate.reason,
        "routing": routing.to_dict(),
    }
    register_model_version(
        engine,
        ModelVersionRecord(
            version=info.version,
            family="ngram",
            path=str(info.path.resolve()),
            data_hash=info.meta["data_hash"],
            metrics=metrics,
            status="registered" if gate.passed else "rejected",
            status_reason=gate.reason,
        ),
    )
    if gate.passed:
        activate_model_version(engine, info.version, reason=f"retraining run {run_id}")
    logger.info(
        "run %s: %s %s (%s)",
        run_id,
        info.version,
        "promoted" if gate.passed else "not promoted",
        gate.reason,
    )
    update_run(
        engine,
        run_id,
        status="succeeded",
        model_version=info.version,
        metrics=metrics,
        promoted=gate.passed,
    )


def calibrate(
    probabilities: np.ndarray,
    gold: Sequence[str],
    label_set: Sequence[str],
    routing: RoutingSettings,
) -> RoutingThresholds:
    """Temperature scaling on the evaluation slice, then per-label thresholds that reach
    the target precision on kept items. A fit that runs to the search bound (a slice with
    no errors) keeps T = 1: there is nothing to calibrate against."""
    index = {label: i for i, label in enumerate(label_set)}
    y = np.asarray([index[label] for label in gold], dtype=np.int64)
    logits = log_probs_as_logits(probabilities)
    temperature = fit_temperature(logits, y) if len(y) else 1.0
    if not MIN_TEMPERATURE * 1.01 < temperature < MAX_TEMPERATURE * 0.99:
        temperature = 1.0
    return fit_routing_thresholds(
        apply_temperature(logits, temperature),
        y,
        list(label_set),
        target_precision=routing.target_precision,
        min_support=routing.min_label_support,
        temperature=temperature,
    )


def promotion_gate(
    candidate: Metrics, active: Metrics | None, config: RetrainSettings
) -> GateResult:
    """Promote when macro-F1 does not fall and no label's F1 falls by more than the margin."""
    if active is None:
        return GateResult(True, "no active model")
    if candidate.macro_f1 < active.macro_f1:
        return GateResult(
            False, f"macro-F1 {candidate.macro_f1:.4f} < active {active.macro_f1:.4f}"
        )
    # A label with a handful of evaluation examples moves by 0.2-0.5 F1 on one example:
    # only labels with enough support can veto a promotion.
    drops = {
        label: active_f1 - candidate.per_label_f1.get(label, 0.0)
        for label, active_f1 in active.per_label_f1.items()
        if candidate.support.get(label, 0) >= config.gate_min_label_support
    }
    worst = max(drops, key=drops.__getitem__, default=None)
    if worst is not None and drops[worst] > config.max_label_f1_drop:
        return GateResult(
            False,
            f"F1 of {worst} falls by {drops[worst]:.4f} > {config.max_label_f1_drop}",
        )
    return GateResult(True, f"macro-F1 {candidate.macro_f1:.4f} >= active {active.macro_f1:.4f}")


def stratified_split(
    rows: Sequence[TrainingLabel], eval_fraction: float, seed: int
) -> tuple[list[TrainingLabel], list[TrainingLabel]]:
    """Hold out about ``eval_fraction`` of each label, chosen by a hash of the message id.

    The choice is stable across runs: a message held out once is held out in every later
    run, so the active model (trained by an earlier run) never trained on the slice it is
    compared on. A per-run shuffle would hand it in-sample examples and the gate would
    favour it. Labels with a single example train only.
    """
    by_label: dict[str, list[TrainingLabel]] = defaultdict(list)
    for row in rows:
        by_label[row.label].append(row)
    train: list[TrainingLabel] = []
    held_out: list[TrainingLabel] = []
    for label in sorted(by_label):
        group = by_label[label]
        for row in group:
            chosen = len(group) > 1 and _unit_hash(row.message_id, seed) < eval_fraction
            (held_out if chosen else train).append(row)
    return train, held_out


def _unit_hash(message_id: str, seed: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{message_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def promote(engine: Engine, version: str, reason: str) -> None:
    get_model_version(engine, version)  # ModelNotFound for an unknown version
    activate_model_version(engine, version, reason=reason)


def rollback(engine: Engine) -> str:
    """Activate again the version that was active before the current one."""
    from sqlalchemy import select

    with engine.connect() as conn:
        history = list(
            conn.execute(
                select(model_activations.c.version).order_by(model_activations.c.id.desc())
            ).scalars()
        )
    current = history[0] if history else None
    previous = next((version for version in history if version != current), None)
    if previous is None:
        raise PermanentError("no earlier model version to roll back to")
    activate_model_version(engine, previous, reason=f"rollback from {current}")
    return previous


def _active_metrics(
    engine: Engine, texts: list[str], gold: list[str], label_set: list[str]
) -> Metrics | None:
    version = active_model_version(engine)
    if version is None:
        return None
    try:
        classifier = OnnxClassifier.load(Path(get_model_version(engine, version).path))
    except (ModelNotFound, OSError, SieveError) as exc:
        logger.warning("active version %s cannot be evaluated: %s", version, exc)
        return None
    return _metrics(classifier, texts, gold, label_set)


def _metrics(
    classifier: OnnxClassifier, texts: list[str], gold: list[str], label_set: list[str]
) -> Metrics:
    probabilities = classifier.predict_proba(texts)
    predicted = [classifier.labels[int(index)] for index in probabilities.argmax(axis=1)]
    return evaluate(gold, predicted, label_set)


def _counts(rows: Sequence[TrainingLabel]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.label] += 1
    return dict(sorted(counts.items()))


def _data_hash(rows: Sequence[TrainingLabel]) -> str:
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda row: row.message_id):
        digest.update(f"{row.message_id}\t{row.text}\t{row.label}\n".encode())
    return digest.hexdigest()

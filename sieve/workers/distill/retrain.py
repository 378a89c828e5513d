"""Distillation: stored labels retrain the fast model; the new version is promoted unless
a paired test on the same held-out slice finds it worse than the active one (`gate.py`).

`request_retrain` is what the admin API, the CLI and the beat schedule call; `run_retrain`
does the work (in a Celery task, or in-process for `sieve retrain --wait`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sieve.core.errors import ModelNotFound, PermanentError, SieveError
from sieve.core.settings import Settings
from sieve.models.classifier import FastClassifier
from sieve.models.evaluation import Metrics, evaluate
from sieve.models.families import get_family, load_classifier
from sieve.models.registry import ArtefactInfo, ModelRegistry
from sieve.store.coordination import LeaseKind, acquire_lease, lease_name, release_lease
from sieve.store.labels import TrainingLabel, gold_labels, training_labels
from sieve.store.synthetic import SYNTHETIC, synthetic_training_rows
from sieve.store.training import RunStatus, RunTrigger, create_run, get_run, pending_run, update_run
from sieve.store.versions import (
    ModelStatus,
    ModelVersionRecord,
    activate_model_version,
    activation_history,
    active_model_version,
    get_model_version,
    register_model_version,
)
from sieve.workers.distill.calibrate import calibrate, nearest_training_examples
from sieve.workers.distill.gate import GateResult, promotion_gate
from sieve.workers.distill.phases import Phase, PhaseClock
from sieve.workers.distill.synthetic import with_synthetic
from sieve.workers.label_set import deployment_label_set

logger = logging.getLogger(__name__)

LEASE = lease_name(LeaseKind.RETRAIN)

__all__ = [
    "GateResult",
    "get_run",
    "promote",
    "promotion_gate",
    "request_retrain",
    "rollback",
    "run_retrain",
]


def request_retrain(settings: Settings, engine: Engine, *, trigger: RunTrigger) -> str:
    """Queue a retraining run, or return the run already queued or running."""
    existing = pending_run(engine)
    if existing is not None:
        return existing
    run_id = create_run(engine, trigger)
    # Sent by name: the task module (sieve.workers.distill.tasks) imports this one.
    from sieve.workers.llm.celery_app import RETRAIN, app

    app.send_task(RETRAIN, args=[run_id], queue=settings.celery.queue)
    return run_id


def run_retrain(
    settings: Settings,
    engine: Engine,
    registry: ModelRegistry,
    run_id: str,
    progress: Callable[[int, int], None] | None = None,
    clock: PhaseClock | None = None,
) -> dict[str, Any]:
    """Train, evaluate, gate and maybe promote. One at a time: a run that finds the lease
    taken ends as `skipped`. ``clock`` collects the seconds of each phase (the run's
    metrics hold them too, as ``phase_s``, up to the gate)."""
    config = settings.retrain
    if not acquire_lease(engine, LEASE, run_id, config.lock_ttl_s):
        update_run(engine, run_id, RunStatus.SKIPPED, error="another retraining is running")
        return _run(engine, run_id)
    try:
        update_run(engine, run_id, RunStatus.RUNNING)
        _train_and_gate(settings, engine, registry, run_id, progress, clock or PhaseClock())
    except SieveError as exc:
        logger.error("retraining run %s failed: %s", run_id, exc)
        update_run(engine, run_id, RunStatus.FAILED, error=str(exc))
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
    clock: PhaseClock,
) -> None:
    config = settings.retrain
    with clock.phase(Phase.READ):
        label_set = deployment_label_set(settings.labels_file)
        real = [row for row in training_labels(engine) if row.label in set(label_set)]
        synthetic = [row for row in synthetic_training_rows(engine) if row.label in set(label_set)]
        split_rows, train_only = with_synthetic(
            real,
            synthetic,
            evaluate_real_after=settings.bootstrap.evaluate_real_after_labels,
            drop_after=settings.bootstrap.drop_after_labels,
        )
        rows = split_rows + train_only
        if len(rows) < config.min_labels:
            raise PermanentError(f"{len(rows)} usable labels, at least {config.min_labels} needed")
        train_rows, eval_rows = stratified_split(split_rows, config.eval_fraction, config.seed)
        train_rows += train_only
        gold_rows = [row for row in gold_labels(engine) if row.label in set(label_set)]
        eval_rows += gold_rows
    logger.info(
        "run %s: %d training and %d evaluation labels", run_id, len(train_rows), len(eval_rows)
    )
    with clock.phase(Phase.TRAIN):
        model = get_family(settings.models.family).train(
            [row.text for row in train_rows],
            [row.label for row in train_rows],
            label_set,
            registry.train_options(
                seed=config.seed, epochs=config.epochs, num_threads=settings.models.train_threads
            ),
            progress=progress,
        )
    texts, gold = [row.text for row in eval_rows], [row.label for row in eval_rows]
    prompt_versions = sorted({row.prompt_version for row in rows if row.prompt_version})
    slice_rows = eval_rows[: len(eval_rows) - len(gold_rows)]
    with clock.phase(Phase.CALIBRATE):
        routing = calibrate(
            model.predict_proba(texts),
            gold,
            label_set,
            settings.routing,
            gold_count=len(gold_rows),
            neighbours=nearest_training_examples(model, train_rows, slice_rows),
            training_labels=len(train_rows),
        )
    with clock.phase(Phase.EXPORT):
        info = registry.save(
            model,
            data_hash=_data_hash(rows),
            metrics={"training_labels": len(train_rows), "prompt_versions": prompt_versions},
            routing=routing.to_dict(),
        )
    with clock.phase(Phase.GATE):
        candidate, candidate_predicted = _metrics(
            load_classifier(info.path), texts, gold, label_set
        )
        active, active_predicted = _active_metrics(engine, texts, gold, label_set)
        gate = promotion_gate(gold, candidate_predicted, active_predicted, label_set, config)
    metrics = {
        **candidate.to_dict(),
        "evaluation_labels": len(eval_rows),
        "training_labels": len(train_rows),
        "synthetic_labels": sum(row.source == SYNTHETIC for row in rows),
        "label_counts": _counts(train_rows),
        "prompt_versions": prompt_versions,
        "active_on_same_slice": active.to_dict() if active else None,
        "gate": gate.reason,
        "routing": routing.to_dict(),
        "phase_s": clock.rounded(),
    }
    with clock.phase(Phase.RECORD):
        _record(engine, run_id, info, model.family, metrics, gate)


def _record(
    engine: Engine,
    run_id: str,
    info: ArtefactInfo,
    family: str,
    metrics: dict[str, Any],
    gate: GateResult,
) -> None:
    """The candidate's version row (registered or rejected), its promotion, the run."""
    register_model_version(
        engine,
        ModelVersionRecord(
            version=info.version,
            family=family,
            path=str(info.path.resolve()),
            data_hash=info.meta["data_hash"],
            metrics=metrics,
            status=ModelStatus.REGISTERED if gate.passed else ModelStatus.REJECTED,
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
        RunStatus.SUCCEEDED,
        model_version=info.version,
        metrics=metrics,
        promoted=gate.passed,
    )


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
    history = activation_history(engine)
    current = history[0] if history else None
    previous = next((version for version in history if version != current), None)
    if previous is None:
        raise PermanentError("no earlier model version to roll back to")
    activate_model_version(engine, previous, reason=f"rollback from {current}")
    return previous


def _active_metrics(
    engine: Engine, texts: list[str], gold: list[str], label_set: list[str]
) -> tuple[Metrics | None, list[str] | None]:
    """The active version's metrics and predictions on the slice, or (None, None)."""
    version = active_model_version(engine)
    if version is None:
        return None, None
    try:
        classifier = load_classifier(Path(get_model_version(engine, version).path))
    except (ModelNotFound, OSError, SieveError) as exc:
        logger.warning("active version %s cannot be evaluated: %s", version, exc)
        return None, None
    return _metrics(classifier, texts, gold, label_set)


def _metrics(
    classifier: FastClassifier, texts: list[str], gold: list[str], label_set: list[str]
) -> tuple[Metrics, list[str]]:
    """Metrics on the slice and the per-item predictions (the gate's paired tests need
    them)."""
    probabilities = classifier.predict_proba(texts)
    predicted = [classifier.labels[int(index)] for index in probabilities.argmax(axis=1)]
    return evaluate(gold, predicted, label_set), predicted


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

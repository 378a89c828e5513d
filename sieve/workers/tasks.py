"""Celery tasks: thin bodies over service functions (workers/labeling.py)."""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from kafka.errors import KafkaError
from sqlalchemy.exc import OperationalError

from sieve.core import metrics
from sieve.core.errors import TransientError
from sieve.core.settings import Settings
from sieve.labeler.client import backoff_s
from sieve.workers.celery_app import app
from sieve.workers.labeling import (
    LabelingContext,
    LockBusy,
    Outcome,
    failure_kind,
    label_escalated,
    record_failure,
)

logger = logging.getLogger(__name__)

LOCK_BUSY_COUNTDOWN_S = 2.0

_settings: Settings | None = None
_context: LabelingContext | None = None


@worker_process_init.connect
def _forget_parent_connections(**_: object) -> None:
    # Engines, producers and sockets must not cross a fork: build them in each process.
    global _context
    _context = None


def worker_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


def worker_context() -> LabelingContext:
    global _context
    if _context is None:
        from sieve.workers.runtime import labeling_context

        _context = labeling_context(worker_settings())
    return _context


@app.task(bind=True, name="sieve.label_with_llm", max_retries=None)
def label_with_llm(self: Task, message_id: str) -> str:
    ctx = worker_context()
    llm = worker_settings().llm
    try:
        outcome = label_escalated(ctx, message_id)
    except (TransientError, OperationalError, KafkaError, SoftTimeLimitExceeded) as exc:
        attempt = self.request.retries
        metrics.record_labeling(failure=failure_kind(exc))
        if isinstance(exc, LockBusy):
            raise self.retry(exc=exc, countdown=LOCK_BUSY_COUNTDOWN_S) from exc
        if attempt + 1 >= llm.max_attempts:
            record_failure(ctx, message_id, f"retries exhausted after {attempt + 1}: {exc}")
            metrics.record_labeling(outcome=Outcome.FAILED.value)
            return Outcome.FAILED.value
        retry_after_s = getattr(exc, "retry_after_s", None)
        countdown_s = backoff_s(attempt, llm.retry_base_s, llm.retry_cap_s, retry_after_s)
        logger.info("%s: %s; retry %d in %.1fs", message_id, exc, attempt + 1, countdown_s)
        raise self.retry(exc=exc, countdown=countdown_s) from exc
    metrics.record_labeling(outcome=outcome.value)
    return outcome.value


@app.task(name="sieve.drain_escalations")
def drain_escalations() -> int:
    """Enqueue escalations that were recorded but never confirmed as enqueued, and those
    enqueued long ago and still unlabeled (their task was lost); without Redis, also delete
    the expired leases (enqueue markers) from the store."""
    from sieve.store.coordination import purge_expired_leases
    from sieve.workers.runtime import celery_sink

    settings = worker_settings()
    engine = worker_context().engine
    drained = celery_sink(settings, engine).drain(
        settings.celery.drain_after_s, settings.celery.requeue_enqueued_after_s
    )
    if not settings.uses_redis:
        purged = purge_expired_leases(engine)
        if purged:
            logger.info("deleted %d expired leases", purged)
    return drained


@app.task(name="sieve.retrain", acks_late=True)
def retrain(run_id: str) -> str:
    from sieve.workers.retraining import run_retrain
    from sieve.workers.runtime import open_registry

    settings = worker_settings()
    run = run_retrain(settings, worker_context().engine, open_registry(settings), run_id)
    return str(run["status"])


@app.task(name="sieve.maybe_retrain")
def maybe_retrain() -> str | None:
    """The beat schedule: retrain when enough new labels arrived since the last run, or
    as soon as the minimum exists while no model is active (cold start)."""
    from sieve.store.repository import active_model_version
    from sieve.store.training import labels_since, last_run_started
    from sieve.workers.retraining import request_retrain

    settings = worker_settings()
    engine = worker_context().engine
    config = settings.retrain
    cold = active_model_version(engine) is None
    needed = config.min_labels if cold else config.min_new_labels
    new_labels = labels_since(engine, None if cold else last_run_started(engine))
    if new_labels < needed:
        return None
    return request_retrain(settings, engine, trigger="schedule")

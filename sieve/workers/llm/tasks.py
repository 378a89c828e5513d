"""The LLM worker's Celery tasks: thin bodies over service functions (``labeling.py``).
The retraining tasks are declared in ``sieve.workers.distill.tasks``."""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from sqlalchemy.exc import OperationalError

from sieve.core import metrics
from sieve.core.errors import TransientError
from sieve.core.settings import Settings
from sieve.labeler.client import backoff_s
from sieve.labeler.service import AnswerInFlight
from sieve.workers.llm.budget import OverLimit
from sieve.workers.llm.celery_app import DRAIN_ESCALATIONS, LABEL_WITH_LLM, app
from sieve.workers.llm.context import budget, celery_sink, labeling_context
from sieve.workers.llm.labeling import (
    LabelingContext,
    LockBusy,
    Outcome,
    failure_kind,
    label_escalated,
    record_failure,
)

logger = logging.getLogger(__name__)

# Another task holds the message or pays for the same text: its answer is seconds away.
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
        _context = labeling_context(worker_settings())
    return _context


@app.task(bind=True, name=LABEL_WITH_LLM, max_retries=None)
def label_with_llm(self: Task, message_id: str, waits: int = 0) -> str:
    """``waits``: retries spent waiting for another task (LockBusy, AnswerInFlight) or for a
    rate limit's next minute; they do not count against ``max_attempts``, which bounds the
    attempts that failed."""
    ctx = worker_context()
    llm = worker_settings().llm
    try:
        outcome = label_escalated(ctx, message_id)
    except (TransientError, OperationalError, SoftTimeLimitExceeded) as exc:
        attempt = self.request.retries - waits
        metrics.record_labeling(failure=failure_kind(exc))
        if isinstance(exc, LockBusy | AnswerInFlight | OverLimit):
            countdown_s = exc.retry_after_s if isinstance(exc, OverLimit) else LOCK_BUSY_COUNTDOWN_S
            raise self.retry(
                exc=exc, countdown=countdown_s, args=[message_id], kwargs={"waits": waits + 1}
            ) from exc
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


@app.task(name=DRAIN_ESCALATIONS)
def drain_escalations() -> int:
    """Enqueue escalations that were recorded but never confirmed as enqueued, those
    enqueued long ago and still unlabeled (their task was lost), and the deferred ones the
    backlog bound and the LLM budget now leave room for; without Redis, also delete the
    expired leases (enqueue markers) and budget counters from the store."""
    from sieve.store.coordination import purge_expired_leases
    from sieve.store.spend import purge_expired_counters

    settings = worker_settings()
    engine = worker_context().engine
    sink = celery_sink(settings, engine)
    drained = sink.drain(settings.celery.drain_after_s, settings.celery.requeue_enqueued_after_s)
    drained += sink.drain_deferred(budget_has_room=budget(settings, engine).has_room())
    if not settings.uses_redis:
        purged = purge_expired_leases(engine) + purge_expired_counters(engine)
        if purged:
            logger.info("deleted %d expired leases and counters", purged)
    return drained

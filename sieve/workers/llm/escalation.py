"""Where escalated messages go: the two implementations of the stream's EscalationSink role
(``sieve.workers.stream.checkpoint``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy import Engine

from sieve.core import metrics
from sieve.core.errors import TransientError
from sieve.store.coordination import LeaseKind, lease_name
from sieve.store.escalations import (
    EscalationStatus,
    count_escalations,
    set_escalation_status,
    stale_escalations,
)
from sieve.store.repository import EscalationRecord, save_escalations
from sieve.workers.llm.celery_app import LABEL_WITH_LLM, app
from sieve.workers.llm.leases import Leases

logger = logging.getLogger(__name__)

ENQUEUED_MARKER_TTL_S = 7 * 24 * 3600


class StoreEscalationSink:
    """Records escalations as `pending` rows; CeleryEscalationSink.drain enqueues them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def submit(self, escalations: Sequence[EscalationRecord]) -> None:
        save_escalations(self._engine, escalations)


class CeleryEscalationSink:
    """Records escalations, then enqueues one `label_with_llm` task per message.

    The task id is derived from (message id, prompt version), and an enqueue marker (a
    lease in Redis or the database) makes a redelivered message enqueue nothing: Celery
    itself does not deduplicate task ids. The task is idempotent as well, so a duplicate
    that slips through (the drain re-enqueues after a crash between marker and publish)
    costs no second LLM call.
    """

    def __init__(
        self,
        engine: Engine,
        leases: Leases,
        *,
        prompt_version: str,
        queue: str,
        max_waiting: int | None = None,
    ) -> None:
        self._engine = engine
        self._leases = leases
        self._prompt_version = prompt_version
        self._queue = queue
        self._max_waiting = max_waiting

    def submit(self, escalations: Sequence[EscalationRecord]) -> None:
        """Record the batch's escalations and enqueue them, as many as the backlog bound
        leaves room for; the rest wait as `deferred` (the stream never waits for the LLM)."""
        save_escalations(self._engine, escalations)
        message_ids = [row.message_id for row in escalations]
        room = self.room()
        if room is not None and room < len(message_ids):
            overflow = message_ids[room:]
            set_escalation_status(self._engine, overflow, EscalationStatus.DEFERRED)
            metrics.record_deferred(len(overflow), why="backlog")
            logger.info(
                "%d escalations deferred: %d waiting for the LLM already (bound %d)",
                len(overflow),
                self._max_waiting - room if self._max_waiting is not None else 0,
                self._max_waiting,
            )
            message_ids = message_ids[:room]
        self.enqueue(message_ids)

    def room(self) -> int | None:
        """How many more escalations may be enqueued under the backlog bound (None: no bound)."""
        if self._max_waiting is None:
            return None
        waiting = count_escalations(self._engine, EscalationStatus.ENQUEUED)
        return max(self._max_waiting - waiting, 0)

    def drain_deferred(self, *, budget_has_room: bool, limit: int = 1_000) -> int:
        """Enqueue the oldest `deferred` escalations while the backlog bound and the LLM
        budget leave room; returns how many tasks were published."""
        room = self.room()
        if not budget_has_room or room == 0:
            return 0
        take = limit if room is None else min(room, limit)
        deferred = stale_escalations(self._engine, 0.0, take, status=EscalationStatus.DEFERRED)
        if deferred:
            logger.info("enqueueing %d deferred escalations", len(deferred))
        return self.enqueue(deferred, force=True)

    def enqueue(self, message_ids: Sequence[str], *, force: bool = False) -> int:
        """Publish a task per message not enqueued before (every one with ``force``);
        returns how many were published."""
        try:
            published = self._publish(message_ids, force=force)
        except KombuOperationalError as exc:
            raise TransientError(f"cannot enqueue escalations: {exc}") from exc
        # Forward only: an escalation labeled meanwhile (a redelivered batch) stays labeled.
        set_escalation_status(self._engine, message_ids, EscalationStatus.ENQUEUED)
        return published

    def _publish(self, message_ids: Sequence[str], *, force: bool) -> int:
        """The enqueue markers in one round trip, then the tasks in one Redis pipeline
        (kombu's publish batch): a publish each, with a Redis client made for each, was
        half of the stream worker's time at a quarter escalated (py-spy, bench latency)."""
        task_ids = [f"label:{message_id}:{self._prompt_version}" for message_id in message_ids]
        markers = [lease_name(LeaseKind.ENQUEUED, task_id) for task_id in task_ids]
        tokens = self._leases.acquire_many(markers, ENQUEUED_MARKER_TTL_S) if markers else []
        chosen = [
            (message_id, task_id, marker, token)
            for message_id, task_id, marker, token in zip(
                message_ids, task_ids, markers, tokens, strict=True
            )
            if token is not None or force
        ]
        if not chosen:
            return 0
        try:
            with app.producer_or_acquire() as producer, _publish_batch(producer):
                for message_id, task_id, _, _ in chosen:
                    app.send_task(
                        LABEL_WITH_LLM,
                        args=[message_id],
                        task_id=task_id,
                        queue=self._queue,
                        producer=producer,
                    )
        except KombuOperationalError:
            # Not published, or not all: let the redelivered batch try again (a task that
            # did go out is idempotent).
            for _, _, marker, token in chosen:
                if token is not None:
                    self._leases.release(marker, token)
            raise
        return len(chosen)

    def drain(self, older_than_s: float, enqueued_after_s: float | None = None) -> int:
        """Enqueue escalations `pending` for ``older_than_s`` (recorded, never confirmed as
        enqueued) and, with ``enqueued_after_s``, those `enqueued` that long ago and still
        unlabeled: their task was lost (a worker killed on a broker that does not
        redeliver). Tasks are idempotent, so a task that was merely slow costs no second
        call. Returns how many tasks were published."""
        stale = stale_escalations(self._engine, older_than_s)
        if stale:
            logger.info("draining %d pending escalations into tasks", len(stale))
        published = self.enqueue(stale, force=True)
        if enqueued_after_s is None:
            return published
        stuck = stale_escalations(
            self._engine, enqueued_after_s, limit=100_000, status=EscalationStatus.ENQUEUED
        )
        if stuck:
            logger.warning(
                "re-enqueueing %d escalations enqueued over %.0fs ago and still unlabeled",
                len(stuck),
                enqueued_after_s,
            )
        return published + self.enqueue(stuck, force=True)


def _publish_batch(producer: Any) -> contextlib.AbstractContextManager[Any]:
    """kombu's publish batch (5.7 on; one pipeline for the Redis transport), or nothing."""
    batch = getattr(producer, "batch", None)
    return batch() if batch is not None else contextlib.nullcontext()

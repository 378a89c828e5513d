"""Escalation states only move forward (pending → enqueued → labeled), on SQLite and
PostgreSQL; the drain re-enqueues escalations stuck in `enqueued` (their task was lost)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import Engine, select

from sieve.core.settings import Settings
from sieve.store.engine import make_engine
from sieve.store.escalations import EscalationStatus, set_escalation_status
from sieve.store.labels import LabelRecord, LabelStatus, save_label
from sieve.store.repository import (
    EscalationRecord,
    MessageRecord,
    save_escalations,
    save_messages,
)
from sieve.store.tables import escalations
from sieve.wiring import celery_sink, labeling_context
from sieve.workers.kafka_adapter import ensure_topics
from sieve.workers.llm.labeling import Outcome, label_escalated
from tests.conftest import BANKING77

PENDING, ENQUEUED = EscalationStatus.PENDING, EscalationStatus.ENQUEUED
LABELED, FAILED = EscalationStatus.LABELED, EscalationStatus.FAILED


@pytest.fixture
def engine(store_url: str):
    engine = make_engine(store_url)
    save_messages(engine, [MessageRecord(id=f"m{i}", text=f"text {i}") for i in range(4)])
    save_escalations(engine, [EscalationRecord(f"m{i}", "v1", "low_confidence") for i in range(4)])
    yield engine
    engine.dispose()


def _statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(escalations.c.message_id, escalations.c.status)).all()
    return {row.message_id: row.status for row in rows}


def _age(engine: Engine, message_id: str, by: timedelta) -> None:
    with engine.begin() as conn:
        conn.execute(
            escalations.update()
            .where(escalations.c.message_id == message_id)
            .values(updated_at=datetime.now(UTC) - by, created_at=datetime.now(UTC) - by)
        )


def _queued(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    try:
        return int(client.llen(settings.celery.queue))
    finally:
        client.close()


def test_a_status_never_moves_back(engine: Engine) -> None:
    set_escalation_status(engine, ["m0", "m1", "m2"], ENQUEUED)
    set_escalation_status(engine, ["m0"], LABELED)
    set_escalation_status(engine, ["m1"], FAILED)

    set_escalation_status(engine, ["m0", "m1", "m3"], ENQUEUED)  # a redelivered batch
    set_escalation_status(engine, ["m0"], FAILED)  # a late failure of a duplicate task
    save_escalations(engine, [EscalationRecord(f"m{i}", "v2", "no_model") for i in range(4)])

    # labeled stays labeled; failed may be enqueued again (a re-queue); pending moves on.
    assert _statuses(engine) == {"m0": LABELED, "m1": ENQUEUED, "m2": ENQUEUED, "m3": ENQUEUED}


def test_a_redelivered_batch_leaves_labeled_escalations_labeled(
    engine: Engine, queue_settings: Settings
) -> None:
    sink = celery_sink(queue_settings, engine)
    first = [EscalationRecord(f"m{i}", "v1", "low_confidence") for i in range(2)]
    sink.submit(first)
    set_escalation_status(engine, ["m0"], LABELED)

    sink.submit(first)  # the batch again: killed after the enqueue, before the commit

    assert _statuses(engine)["m0"] == LABELED
    assert _statuses(engine)["m1"] == ENQUEUED
    assert _queued(queue_settings) == 2  # the enqueue markers held: no second task


def test_the_drain_re_enqueues_escalations_enqueued_too_long_ago(
    engine: Engine, queue_settings: Settings
) -> None:
    sink = celery_sink(queue_settings, engine)
    set_escalation_status(engine, ["m1", "m2", "m3"], ENQUEUED)
    set_escalation_status(engine, ["m3"], LABELED)
    for message_id in ("m0", "m1", "m3"):
        _age(engine, message_id, timedelta(hours=1))

    # m0 pending for an hour, m1 enqueued an hour ago (its task lost), m2 enqueued just
    # now (its task may be running), m3 labeled.
    drained = sink.drain(older_than_s=60, enqueued_after_s=900)

    assert drained == 2
    assert _queued(queue_settings) == 2
    assert _statuses(engine) == {"m0": ENQUEUED, "m1": ENQUEUED, "m2": ENQUEUED, "m3": LABELED}
    # Re-enqueued means enqueued again now: not again at the next drain.
    assert sink.drain(older_than_s=60, enqueued_after_s=900) == 0


def test_a_task_for_an_already_labeled_message_marks_its_escalation_labeled(
    settings: Settings, redis_prefix: str
) -> None:
    # Killed between the label row and the status update: the re-enqueued task must move
    # the escalation on, or the drain would re-enqueue it forever.
    ensure_topics(settings.kafka)
    settings = settings.model_copy(
        update={
            "labels_file": BANKING77 / "labels.txt",
            "redis": settings.redis.model_copy(update={"key_prefix": redis_prefix}),
            "llm": settings.llm.model_copy(update={"base_url": "http://127.0.0.1:1/v1"}),
        }
    )
    ctx = labeling_context(settings)
    save_messages(ctx.engine, [MessageRecord(id="k1", text="where is my card")])
    save_escalations(ctx.engine, [EscalationRecord("k1", "v1", "low_confidence")])
    set_escalation_status(ctx.engine, ["k1"], ENQUEUED)
    prompt_version, model = ctx.key
    save_label(
        ctx.engine, LabelRecord("k1", "llm", prompt_version, model, "card_arrival", LabelStatus.OK)
    )

    assert label_escalated(ctx, "k1") is Outcome.ALREADY_LABELED

    assert _statuses(ctx.engine)["k1"] == LABELED
    ctx.producer.close(timeout_s=5)
    ctx.engine.dispose()


def test_the_beats_drain_task_re_enqueues_stuck_escalations(
    settings: Settings, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The task body, called as a function in this process (no worker, no eager mode).
    from sieve.workers.llm import tasks

    ensure_topics(settings.kafka)
    settings = settings.model_copy(
        update={
            "redis": settings.redis.model_copy(update={"key_prefix": redis_prefix}),
            "celery": settings.celery.model_copy(
                update={"queue": f"{redis_prefix}tasks", "requeue_enqueued_after_s": 600}
            ),
        }
    )
    monkeypatch.setattr(tasks, "_settings", settings)
    monkeypatch.setattr(tasks, "_context", None)
    engine = make_engine(settings.database_url)
    save_messages(engine, [MessageRecord(id=f"s{i}", text=f"text {i}") for i in range(2)])
    save_escalations(engine, [EscalationRecord(f"s{i}", "v1", "low_confidence") for i in range(2)])
    set_escalation_status(engine, ["s0", "s1"], ENQUEUED)
    _age(engine, "s0", timedelta(seconds=700))  # past the setting; s1 is not

    assert tasks.drain_escalations() == 1

    assert _queued(settings) == 1
    tasks.worker_context().producer.close(timeout_s=5)
    tasks.worker_context().engine.dispose()
    engine.dispose()

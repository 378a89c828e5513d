"""Backpressure: the escalation sink enqueues no more than the backlog bound leaves room
for; the overflow waits as `deferred` with its provisional label, and the drain enqueues it
once the backlog shrinks and the budget has room (real Redis queue, both stores)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from sieve.core.settings import Settings
from sieve.store.engine import make_engine
from sieve.store.escalations import EscalationStatus, set_escalation_status
from sieve.store.repository import (
    EscalationRecord,
    MessageRecord,
    save_escalations,
    save_messages,
)
from sieve.store.stats import escalation_backlog
from sieve.wiring import celery_sink
from tests.integration.test_escalation_states import _queued, _statuses

ENQUEUED, DEFERRED = EscalationStatus.ENQUEUED, EscalationStatus.DEFERRED
LABELED = EscalationStatus.LABELED


@pytest.fixture
def engine(store_url: str):
    engine = make_engine(store_url)
    save_messages(engine, [MessageRecord(id=f"m{i}", text=f"text {i}") for i in range(8)])
    yield engine
    engine.dispose()


@pytest.fixture
def bounded(queue_settings: Settings) -> Settings:
    celery = queue_settings.celery.model_copy(update={"max_waiting": 3})
    return queue_settings.model_copy(update={"celery": celery})


def _escalate(engine: Engine, ids: range) -> list[EscalationRecord]:
    return [EscalationRecord(f"m{i}", "v1", "low_confidence") for i in ids]


def test_beyond_the_bound_escalations_are_deferred_not_enqueued(engine, bounded):
    sink = celery_sink(bounded, engine)
    sink.submit(_escalate(engine, range(0, 2)))  # 2 waiting
    sink.submit(_escalate(engine, range(2, 6)))  # room for 1 of 4

    statuses = _statuses(engine)
    assert [statuses[f"m{i}"] for i in range(6)] == [ENQUEUED] * 3 + [DEFERRED] * 3
    assert _queued(bounded) == 3
    assert escalation_backlog(engine) == 6  # deferred ones are still waiting for a label


def test_the_drain_enqueues_deferred_escalations_as_room_returns(engine, bounded):
    sink = celery_sink(bounded, engine)
    sink.submit(_escalate(engine, range(0, 6)))
    assert sink.drain_deferred(budget_has_room=True) == 0  # still full

    set_escalation_status(engine, ["m0", "m1"], LABELED)
    assert sink.drain_deferred(budget_has_room=False) == 0  # the budget is spent
    assert sink.drain_deferred(budget_has_room=True) == 2

    statuses = _statuses(engine)
    assert sorted(i for i, s in statuses.items() if s == DEFERRED) == ["m5"]
    assert _queued(bounded) == 5


def test_without_a_bound_everything_is_enqueued(engine, bounded):
    unbounded = bounded.model_copy(
        update={"celery": bounded.celery.model_copy(update={"max_waiting": None})}
    )
    sink = celery_sink(unbounded, engine)
    save_escalations(engine, _escalate(engine, range(0, 8)))
    set_escalation_status(engine, [f"m{i}" for i in range(8)], ENQUEUED)
    sink.submit(_escalate(engine, range(0, 8)))
    assert sink.room() is None
    assert set(_statuses(engine).values()) == {ENQUEUED}

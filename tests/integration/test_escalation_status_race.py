"""Finding made by the escalation backlog gauge (issue 8, item 5), left to the escalation
states work: CeleryEscalationSink.enqueue publishes its tasks one by one, then marks every
escalation `enqueued`. A worker that labels a message in between (a cache hit takes
milliseconds) has its `labeled` overwritten: the escalation stays in the backlog, and in
`sieve requeue --stuck-after-s`, for good. Seen in test_metrics_endpoints.py's second run.
Fixed by forward-only escalation states: the UPDATE to `enqueued` skips a `labeled` row."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, select

from sieve.store.escalations import set_escalation_status
from sieve.store.repository import EscalationRecord, save_escalations
from sieve.store.tables import escalations
from sieve.workers.llm.escalation import CeleryEscalationSink


class FastWorkerLeases:
    """Grants every enqueue marker. When the second one is asked for, the first message's
    task is already published, and this fake plays the worker that labeled it meanwhile."""

    def __init__(self, engine: Engine, first_id: str) -> None:
        self._engine = engine
        self._first_id = first_id
        self._acquired = 0

    def acquire(self, name: str, ttl_s: int) -> str | None:
        self._acquired += 1
        if self._acquired == 2:
            set_escalation_status(self._engine, [self._first_id], "labeled")
        return uuid.uuid4().hex

    def acquire_many(self, names: list[str], ttl_s: int) -> list[str | None]:
        return [self.acquire(name, ttl_s) for name in names]

    def release(self, name: str, token: str) -> None:
        pass


def _status(engine: Engine, message_id: str) -> str:
    query = select(escalations.c.status).where(escalations.c.message_id == message_id)
    with engine.connect() as conn:
        return str(conn.execute(query).scalar_one())


def test_a_label_that_lands_while_the_sink_enqueues_stays_labeled(
    sqlite_engine: Engine, redis_prefix: str
) -> None:
    rows = [EscalationRecord(f"race-{i}", "v1", "low_confidence") for i in range(2)]
    save_escalations(sqlite_engine, rows)
    sink = CeleryEscalationSink(
        sqlite_engine,
        FastWorkerLeases(sqlite_engine, "race-0"),
        prompt_version="classify-zero-shot@1",
        queue=f"{redis_prefix}tasks",
    )
    assert sink.enqueue([row.message_id for row in rows]) == 2
    assert _status(sqlite_engine, "race-1") == "enqueued"
    assert _status(sqlite_engine, "race-0") == "labeled"

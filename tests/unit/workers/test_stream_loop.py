"""The poll loop and the commit protocol in-process: fakes of Sieve's Kafka roles
(tests/fakes.py), a real (SQLite) store, no broker."""

import json

from sqlalchemy import select

from sieve.core.settings import KafkaSettings, RoutingSettings, StreamSettings
from sieve.store.tables import messages, predictions
from sieve.workers.records import Partition, Record
from sieve.workers.stream.checkpoint import Checkpoint
from sieve.workers.stream.loop import StreamWorker
from sieve.workers.stream.model_watch import ActiveModel
from tests.fakes import FakeConsumer, FakeProducer, LoggingEscalationSink

ROUTING = RoutingSettings(min_confidence=0.5, min_margin=0.25, exploration_rate=0.0)
P0, P1 = Partition("feedback", 0), Partition("feedback", 1)


def message(offset: int, partition: int = 0) -> Record:
    value = json.dumps({"id": f"m{partition}-{offset}", "text": f"text {offset}"}).encode()
    return Record("feedback", partition, offset, b"k", value)


def run(engine, records, *, max_messages, batch_size=10, max_request=1_048_576, **faults):
    """Run a worker (no active model: every message escalates) over ``records``; returns
    the worker, its fakes, the step log and the back-off waits."""
    log: list = []
    kafka = KafkaSettings(max_batch_size=batch_size, max_request_size_bytes=max_request)
    consumer = FakeConsumer(records, log, failing_commits=faults.pop("failing_commits", 0))
    producer = FakeProducer(log, max_request_bytes=max_request, **faults)
    checkpoint = Checkpoint(
        engine=engine,
        sink=LoggingEscalationSink(log),
        producer=producer,
        consumer=consumer,
        topics=kafka,
    )
    waits: list[float] = []
    worker = StreamWorker(
        consumer=consumer,
        checkpoint=checkpoint,
        model=ActiveModel(engine, check_interval_s=60),
        kafka=kafka,
        routing=ROUTING,
        limits=StreamSettings(),
        sleep=waits.append,
    )
    # Stops at max_messages, or on the first empty poll: a lost batch cannot hang a test.
    worker.run(max_messages=max_messages, idle_timeout_s=0.0)
    return worker, consumer, producer, log, waits


def _steps(log: list) -> list[str]:
    return [entry[0] for entry in log if entry[0] != "poll"]


def event_id(value: bytes) -> str:
    return json.loads(value)["id"]


def _stored_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(messages.c.id)).scalars())


def test_a_batch_is_stored_announced_escalated_then_committed(sqlite_engine):
    records = [message(0), Record("feedback", 0, 1, None, b"{oops"), message(2)]
    worker, consumer, producer, log, waits = run(sqlite_engine, records, max_messages=3)
    assert _stored_ids(sqlite_engine) == ["m0-0", "m0-2"]
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(predictions.c.reason)).scalars().all() == ["no_model"] * 2
    assert [event_id(v) for _, v, _ in producer.on("feedback.labels")] == ["m0-0", "m0-2"]
    [(_, _, headers)] = producer.on("feedback.dlq")
    assert headers["sieve.reason"] == b"not_json"
    # Events and dead letters flushed, then escalations, then the offsets: last of all.
    assert _steps(log) == ["send", "send", "send", "flush", "escalate", "commit"]
    assert consumer.commits == [{P0: 3}]
    assert (worker.stats.consumed, worker.stats.dead_lettered, worker.stats.escalated) == (3, 1, 2)
    assert waits == [] and worker.stats.retries == 0


def test_offsets_are_committed_per_batch_and_per_partition(sqlite_engine):
    records = [message(o, 0) for o in range(3)] + [message(o, 1) for o in range(5, 7)]
    _, consumer, _, _, _ = run(sqlite_engine, records, max_messages=5, batch_size=2)
    assert consumer.commits == [{P0: 2}, {P0: 3, P1: 6}, {P1: 7}]
    assert len(_stored_ids(sqlite_engine)) == 5


def test_a_produce_failure_leaves_offsets_uncommitted_and_rewinds_the_batch(sqlite_engine):
    records = [message(0), message(1)]
    worker, consumer, producer, log, waits = run(
        sqlite_engine, records, max_messages=2, failing_flushes=1
    )
    steps = _steps(log)
    # The failed attempt: sends, a flush that raised, no escalation, no commit; a rewind.
    assert steps[:4] == ["send", "send", "flush", "seek"]
    assert consumer.seeks == [(P0, 0)]
    assert steps.count("commit") == 1 and steps[-1] == "commit"
    assert consumer.commits == [{P0: 2}]  # only after the batch was read and done again
    assert worker.stats.retries == 1 and len(waits) == 1
    # At-least-once: the events went out twice; the rows are upserts, stored once.
    assert len(producer.on("feedback.labels")) == 4
    assert _stored_ids(sqlite_engine) == ["m0-0", "m0-1"]
    assert worker.stats.consumed == 2


def test_a_failed_commit_rewinds_and_commits_on_the_retry(sqlite_engine):
    worker, consumer, _, _, waits = run(
        sqlite_engine, [message(0), message(1)], max_messages=2, failing_commits=1
    )
    assert consumer.seeks == [(P0, 0)]
    assert consumer.commits == [{P0: 2}]
    assert worker.stats.retries == 1 and len(waits) == 1


def test_a_dead_letter_too_large_for_the_producer_is_cut_and_the_batch_commits(sqlite_engine):
    big = Record("feedback", 0, 1, b"k", b"x" * 30_000, (("trace", b"abc"),))
    _, consumer, producer, _, waits = run(
        sqlite_engine, [message(0), big], max_messages=2, max_request=20_000
    )
    [(_, value, headers)] = producer.on("feedback.dlq")
    assert 0 < len(value) < 20_000 and headers["sieve.reason"] == b"too_large"
    assert headers["trace"] == b"abc"
    assert consumer.commits == [{P0: 2}] and waits == []

"""The stream worker in-process against the real broker and PostgreSQL."""

from __future__ import annotations

import json
import random
import threading
import time

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import select

from sieve.core.events import LabelEvent
from sieve.store.engine import make_engine
from sieve.store.tables import escalations, predictions
from sieve.wiring import stream_worker
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.llm.escalation import StoreEscalationSink
from sieve.workers.stream.produce import produce_lines, read_lines
from tests.conftest import BANKING77
from tests.fakes import FlakyEscalationSink
from tests.integration.conftest import activate, read_topic


def _produce(kafka, lines: list[bytes]) -> None:
    ensure_topics(kafka)
    producer = make_producer(kafka)
    produce_lines(producer, kafka.input_topic, lines)
    producer.close()


def _rows(engine):
    with engine.connect() as conn:
        return conn.execute(
            select(predictions.c.message_id, predictions.c.model_version, predictions.c.route)
        ).all()


def test_batch_is_stored_announced_and_committed(settings, model_factory):
    activate(settings.database_url, model_factory(0))
    good = read_lines(BANKING77 / "test.jsonl")[:300]
    bad = [b"{broken", b'{"id": "x", "text": ""}']
    _produce(settings.kafka, good + bad)
    engine = make_engine(settings.database_url)
    with stream_worker(settings, engine) as worker:
        stats = worker.run(max_messages=302, idle_timeout_s=30)
    assert (stats.consumed, stats.dead_lettered) == (302, 2)

    rows = _rows(engine)
    assert len(rows) == 300 == len({row.message_id for row in rows})
    assert {row.model_version for row in rows} == {model_factory(0).version}
    with engine.connect() as conn:
        escalated = set(conn.execute(select(escalations.c.message_id)).scalars())
    assert escalated == {row.message_id for row in rows if row.route == "escalate"}

    events = [
        LabelEvent.decode(r.value) for r in read_topic(settings.kafka, settings.kafka.labels_topic)
    ]
    assert {e.id for e in events} == {row.message_id for row in rows}
    assert all(
        e.final == (dict((r.message_id, r.route) for r in rows)[e.id] == "accept") for e in events
    )

    dlq = read_topic(settings.kafka, settings.kafka.dlq_topic)
    assert [r.value for r in dlq] == bad
    assert [dict(r.headers)["sieve.reason"] for r in dlq] == [b"not_json", b"empty_text"]

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, group_id=settings.kafka.group_id
    )
    tp = TopicPartition(settings.kafka.input_topic, 0)
    assert consumer.committed(tp) == 302  # every offset committed, none beyond
    consumer.close(autocommit=False)
    engine.dispose()


def test_activation_and_rollback_reach_a_running_worker(settings, model_factory):
    from sieve.workers.distill.retrain import rollback

    first, second = model_factory(0), model_factory(1)
    activate(settings.database_url, first)
    fast_reload = settings.models.model_copy(update={"reload_check_interval_s": 0.0})
    settings = settings.model_copy(update={"models": fast_reload})
    lines = read_lines(BANKING77 / "test.jsonl")
    engine = make_engine(settings.database_url)
    with stream_worker(settings, engine) as worker:
        runner = threading.Thread(
            target=worker.run, kwargs={"max_messages": 600, "idle_timeout_s": 60}
        )
        runner.start()
        _produce(settings.kafka, lines[:200])
        _wait_for(lambda: len(_rows(engine)) >= 200)
        activate(settings.database_url, second, reason="newer")
        _produce(settings.kafka, lines[200:400])
        _wait_for(lambda: len(_rows(engine)) >= 400)
        assert rollback(engine) == first.version
        _produce(settings.kafka, lines[400:600])
        runner.join(timeout=120)
        assert not runner.is_alive()
    versions = {json.loads(line)["id"]: None for line in lines[:600]}
    for row in _rows(engine):
        versions[row.message_id] = row.model_version
    assert None not in versions.values()  # no message lost across the swaps
    assert len(_rows(engine)) == 600  # and none classified twice
    assert {versions[json.loads(line)["id"]] for line in lines[:200]} == {first.version}
    assert {versions[json.loads(line)["id"]] for line in lines[200:400]} == {second.version}
    assert {versions[json.loads(line)["id"]] for line in lines[400:600]} == {first.version}
    engine.dispose()


def _wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_transient_failure_rewinds_and_retries_the_batch(settings):
    """No model active: everything escalates; the sink fails twice, then recovers."""
    lines = read_lines(BANKING77 / "test.jsonl")[:120]
    _produce(settings.kafka, lines)
    engine = make_engine(settings.database_url)
    sink = FlakyEscalationSink(failures=2)
    sleeps: list[float] = []
    with stream_worker(settings, engine, sink=sink) as worker:
        worker._sleep = sleeps.append  # no real back-off wait in a test
        stats = worker.run(max_messages=120, idle_timeout_s=30)
    assert stats.retries == 2 and sleeps == [1.0, 2.0]
    ids = [json.loads(line)["id"] for line in lines]
    assert sorted(e.message_id for e in sink.submitted) == sorted(ids)
    assert len(_rows(engine)) == 120
    engine.dispose()


def test_target_llm_share_is_met_on_the_next_thousand(settings, model_factory):
    """A 15% target share: the threshold follows recent confidences (printed figure)."""
    activate(settings.database_url, model_factory(0))
    routing = settings.routing.model_copy(
        update={
            "target_llm_share": 0.15,
            "min_share_samples": 200,
            "exploration_rate": 0.02,
            "share_after_labels": 0,  # a model from train_from_file: its size is not stored
        }
    )
    # Batches of 100: from message 200 on, every batch is routed by the share threshold.
    kafka = settings.kafka.model_copy(update={"max_batch_size": 100})
    settings = settings.model_copy(update={"routing": routing, "kafka": kafka})
    # The test file is sorted by label; live traffic is not.
    lines = read_lines(BANKING77 / "test.jsonl")
    random.Random(3).shuffle(lines)
    lines = lines[:1300]
    _produce(settings.kafka, lines)
    engine = make_engine(settings.database_url)
    with stream_worker(settings, engine, StoreEscalationSink(engine)) as worker:
        worker.run(max_messages=1300, idle_timeout_s=30)
    routes = dict((row.message_id, row.route) for row in _rows(engine))
    last = [routes[json.loads(line)["id"]] for line in lines[300:]]
    share = last.count("escalate") / len(last)
    print(f"target LLM share 15%: realised {share:.1%} over the next {len(last)} messages")
    assert 0.12 <= share <= 0.18
    engine.dispose()

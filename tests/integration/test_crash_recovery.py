"""Done-when of the stream path: SIGKILL midway, restart, exactly one row per good message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from sqlalchemy import func, select

from sieve.core.events import LabelEvent
from sieve.store.engine import make_engine
from sieve.store.tables import messages, predictions
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.stream.produce import produce_lines, read_lines
from tests.conftest import BANKING77
from tests.integration.conftest import activate, read_topic, stream_env

MALFORMED = [
    b"{not json",
    b'{"id": "a", "text": "unterminated',
    b"",
    b'{"id": "nonutf8-1", "text": "caf\xe9"}',
    b"\xff\xfe\xfd",
    b'{"id": "nonutf8-3", "text": "\xc3\x28"}',
    b'{"text": "no id at all"}',
    b'{"id": null, "text": "null id"}',
    b'{"id": 42, "text": "numeric id"}',
    b'{"id": ["x"], "text": "list id"}',
    b'{"id": "no-text"}',
    b'{"id": "num-text", "text": 3.5}',
    b'{"id": "obj-text", "text": {"a": 1}}',
    b'{"id": "empty-1", "text": ""}',
    b'{"id": "empty-2", "text": "   "}',
    b'{"id": "empty-3", "text": "\\n\\t"}',
    json.dumps({"id": "long-1", "text": "x" * 20_000}).encode(),
    json.dumps({"id": "long-2", "text": "y" * 10_001}).encode(),
    json.dumps({"id": "huge", "text": "z" * 70_000}).encode(),
    b"[1, 2, 3]",
]


def _worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sieve.cli", "stream", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _count(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(predictions)).scalar_one())


def test_sigkill_midway_then_restart_loses_and_duplicates_nothing(settings, model_factory):
    assert len(MALFORMED) == 20
    activate(settings.database_url, model_factory(0))
    good = [
        json.dumps({"id": f"crash-{i}", "text": json.loads(line)["text"]}).encode()
        for i, line in enumerate(read_lines(BANKING77 / "train.jsonl")[:2000])
    ]
    kafka = settings.kafka
    env = stream_env(
        settings,
        KAFKA__MAX_BATCH_SIZE="25",  # many small commits: the kill lands between two
    )
    ensure_topics(kafka)
    producer = make_producer(kafka)
    # First half, malformed messages mixed in; the second half only after the kill.
    first_half = good[:1000] + MALFORMED[:10]
    produce_lines(producer, kafka.input_topic, first_half, shuffle_seed=1)

    engine = make_engine(settings.database_url)
    worker = _worker(env)
    deadline = time.monotonic() + 120
    while _count(engine) < 300:
        assert worker.poll() is None, worker.stderr.read().decode()[-2000:] if worker.stderr else ""
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL
    rows_at_kill = _count(engine)

    produce_lines(producer, kafka.input_topic, good[1000:] + MALFORMED[10:], shuffle_seed=2)
    producer.close()
    restarted = _worker(env, "--idle-timeout-s", "15")
    _, stderr = restarted.communicate(timeout=300)
    assert restarted.returncode == 0, stderr.decode()[-2000:]

    good_ids = {f"crash-{i}" for i in range(2000)}
    with engine.connect() as conn:
        per_message = Counter(conn.execute(select(predictions.c.message_id)).scalars())
        stored = int(conn.execute(select(func.count()).select_from(messages)).scalar_one())
    assert rows_at_kill < 2000
    assert set(per_message) == good_ids
    assert max(per_message.values()) == 1  # exactly one prediction row per good message
    assert stored == 2000

    events = read_topic(kafka, kafka.labels_topic)
    assert {LabelEvent.decode(record.value).id for record in events} >= good_ids

    dlq = read_topic(kafka, kafka.dlq_topic)
    # At-least-once: a dead letter produced just before the kill may appear twice.
    assert {record.value for record in dlq} == set(MALFORMED)
    reasons = {dict(record.headers)["sieve.reason"].decode() for record in dlq}
    assert reasons == {
        "not_json",
        "not_utf8",
        "bad_id",
        "bad_text",
        "empty_text",
        "text_too_long",
        "too_large",
        "not_object",
    }
    engine.dispose()


def test_sigterm_finishes_the_batch_and_commits(settings, model_factory):
    from kafka import KafkaConsumer, TopicPartition

    activate(settings.database_url, model_factory(0))
    kafka = settings.kafka
    ensure_topics(kafka)
    producer = make_producer(kafka)
    produce_lines(producer, kafka.input_topic, read_lines(BANKING77 / "test.jsonl")[:500])
    producer.close()
    env = {
        **os.environ,
        "SIEVE_DATABASE__URL": settings.database_url,
        "SIEVE_STREAM__ESCALATION_SINK": "store",
        "SIEVE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SIEVE_KAFKA__INPUT_TOPIC": kafka.input_topic,
        "SIEVE_KAFKA__GROUP_ID": kafka.group_id,
        "SIEVE_KAFKA__SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
        "SIEVE_KAFKA__HEARTBEAT_INTERVAL_MS": str(kafka.heartbeat_interval_ms),
        "SIEVE_KAFKA__MAX_BATCH_SIZE": "10",
    }
    engine = make_engine(settings.database_url)
    worker = _worker(env)
    deadline = time.monotonic() + 120
    while _count(engine) < 50:
        assert worker.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr.decode()[-2000:]
    # Everything stored was committed, and nothing was committed that is not stored.
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=kafka.group_id)
    committed = consumer.committed(TopicPartition(kafka.input_topic, 0))
    consumer.close(autocommit=False)
    assert committed == _count(engine)
    engine.dispose()

"""Done-when of issue 7 (finding 4): a consumer of `feedback.labels` that keeps the event
with the highest revision per key ends with the LLM's label for every escalated message,
and each message's provisional event is on the topic before its final one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from sqlalchemy import select

from sieve.core.events import LabelEvent, LabelSource
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.models.families import load_classifier
from sieve.store.engine import make_engine
from sieve.store.tables import labels, predictions
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.stream.produce import produce_lines
from tests.conftest import BANKING77
from tests.integration.conftest import activate, read_topic

MESSAGES = 300


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sieve.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _llm_labels(engine) -> dict[str, str]:
    query = select(labels.c.message_id, labels.c.label).where(labels.c.status == "ok")
    with engine.connect() as conn:
        return {message_id: label for message_id, label in conn.execute(query)}


def _escalated(engine, prefix: str = "") -> set[str]:
    query = select(predictions.c.message_id).where(
        predictions.c.route == "escalate", predictions.c.message_id.like(f"{prefix}%")
    )
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def _wait_labeled(engine, prefix: str, count: int) -> None:
    """Until the round's `count` messages are stored and each escalated one is labeled."""
    deadline = time.monotonic() + 240
    while True:
        query = select(predictions.c.message_id).where(predictions.c.message_id.like(f"{prefix}-%"))
        with engine.connect() as conn:
            stored = len(conn.execute(query).all())
        if stored == count and set(_llm_labels(engine)) >= _escalated(engine, prefix):
            return
        assert time.monotonic() < deadline, f"round {prefix}: not every escalation labeled"
        time.sleep(0.2)


def test_highest_revision_per_key_is_the_llm_label(settings, model_factory, redis_prefix):
    info = model_factory(0)
    activate(settings.database_url, info)
    rows = [json.loads(line) for line in (BANKING77 / "test.jsonl").read_text().splitlines()]
    rows = rows[:: len(rows) // MESSAGES][:MESSAGES]
    confidences = load_classifier(info.path).predict_proba([r["text"] for r in rows])
    threshold = float(np.quantile(confidences.max(axis=1), 0.4))
    kafka = settings.kafka
    teacher = load_teacher([BANKING77 / "test.jsonl"], accuracy=0.8, noise="uniform", seed=0)
    with SimulatorServer(teacher, SimulatorConfig()) as sim:
        env = {
            **os.environ,
            "SIEVE_DATA_DIR": str(settings.data_dir),
            "SIEVE_LABELS_FILE": str(BANKING77 / "labels.txt"),
            "SIEVE_DATABASE__URL": settings.database_url,
            "SIEVE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "SIEVE_KAFKA__INPUT_TOPIC": kafka.input_topic,
            "SIEVE_KAFKA__LABELS_TOPIC": kafka.labels_topic,
            "SIEVE_KAFKA__DLQ_TOPIC": kafka.dlq_topic,
            "SIEVE_KAFKA__GROUP_ID": kafka.group_id,
            "SIEVE_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "SIEVE_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
            "SIEVE_KAFKA__MAX_BATCH_SIZE": "500",  # one batch: many enqueues before its events
            "SIEVE_ROUTING__MIN_CONFIDENCE": repr(threshold),
            "SIEVE_ROUTING__MIN_MARGIN": "0",
            "SIEVE_REDIS__KEY_PREFIX": redis_prefix,
            "SIEVE_CELERY__QUEUE": f"{redis_prefix}tasks",
            "SIEVE_LLM__BASE_URL": sim.base_url,
            "SIEVE_LLM__MODEL": "teacher-sim",
        }
        ensure_topics(kafka)
        engine = make_engine(settings.database_url)
        worker = _cli(env, "worker", "--concurrency", "2")
        stream = _cli(env, "stream", "--idle-timeout-s", "20")
        producer = make_producer(kafka)
        # A warm-up round first, so that the Celery worker's clients are connected and it
        # answers within milliseconds: the race of finding 4 (the LLM's event produced
        # while the stream worker still enqueues the batch's escalations, before the
        # batch's provisional events) is then wide open for the main round, one batch.
        warm, main = rows[:30], rows[30:]
        for round_rows, prefix in ((warm, "warm"), (main, "rev")):
            lines = [
                json.dumps({"id": f"{prefix}-{r['id']}", "text": r["text"]}).encode()
                for r in round_rows
            ]
            produce_lines(producer, kafka.input_topic, lines)
            _wait_labeled(engine, prefix, len(round_rows))
        producer.close()
        assert stream.wait(timeout=300) == 0
        escalated = _escalated(engine)
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    assert 0.3 <= len(escalated) / MESSAGES <= 0.5
    events = [LabelEvent.decode(r.value) for r in read_topic(kafka, kafka.labels_topic)]
    latest: dict[str, LabelEvent] = {}
    first_seen: dict[tuple[str, LabelSource], int] = {}
    for position, event in enumerate(events):
        first_seen.setdefault((event.id, event.source), position)
        if event.id not in latest or event.revision >= latest[event.id].revision:
            latest[event.id] = event
    llm = _llm_labels(engine)
    assert {m: (latest[m].source, latest[m].label) for m in escalated} == {
        m: (LabelSource.LLM, llm[m]) for m in escalated
    }
    assert all(latest[m].final for m in latest)
    # Provisional first, for every escalated message, on the one partition of the topic.
    late = [
        m
        for m in escalated
        if first_seen[(m, LabelSource.MODEL)] > first_seen[(m, LabelSource.LLM)]
    ]
    assert late == []
    engine.dispose()

"""Done-when of the LLM path, over real processes: the stream worker and Celery workers as
subprocesses, the Tansu broker, Redis, PostgreSQL, and the teacher simulator over HTTP."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import numpy as np
from sqlalchemy import func, select

from sieve.core.events import LabelEvent, LabelSource
from sieve.demo.processes import CliProcess
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import FaultRates
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.models.families import load_classifier
from sieve.store.engine import make_engine
from sieve.store.tables import labels, messages, predictions
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.stream.produce import produce_lines
from tests.conftest import BANKING77
from tests.integration.conftest import activate, read_topic

MESSAGES = 1000


def _scalar(engine, query) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _escalated(engine, prefix: str) -> set[str]:
    query = select(predictions.c.message_id).where(
        predictions.c.route == "escalate", predictions.c.message_id.like(f"{prefix}%")
    )
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def _labeled(engine, prefix: str) -> Counter[str]:
    query = select(labels.c.message_id).where(
        labels.c.status == "ok", labels.c.message_id.like(f"{prefix}%")
    )
    with engine.connect() as conn:
        return Counter(conn.execute(query).scalars())


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _threshold_for_share(model_path, texts: list[str], share: float) -> float:
    probabilities = load_classifier(model_path).predict_proba(texts)
    return float(np.quantile(probabilities.max(axis=1), share))


def test_escalations_get_one_llm_label_and_one_final_event(settings, model_factory, redis_prefix):
    info = model_factory(0)
    activate(settings.database_url, info)
    rows = [json.loads(line) for line in (BANKING77 / "test.jsonl").read_text().splitlines()]
    rows = rows[:: len(rows) // MESSAGES][:MESSAGES]
    threshold = _threshold_for_share(info.path, [row["text"] for row in rows], 0.30)
    kafka = settings.kafka
    teacher = load_teacher(
        [BANKING77 / "train.jsonl", BANKING77 / "test.jsonl"],
        accuracy=0.8,
        noise="confusable",
        seed=0,
    )
    faults = FaultRates(rate_limit=0.20, server_error=0.05)
    with SimulatorServer(teacher, SimulatorConfig(faults=faults, retry_after_s=1)) as sim:
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
            "SIEVE_KAFKA__MAX_BATCH_SIZE": "50",
            "SIEVE_ROUTING__MIN_CONFIDENCE": repr(threshold),
            "SIEVE_ROUTING__MIN_MARGIN": "0",
            # Exploration samples by message id: the second run's ids differ, and the same
            # texts must escalate in both runs for the cache check.
            "SIEVE_ROUTING__EXPLORATION_RATE": "0",
            "SIEVE_REDIS__KEY_PREFIX": redis_prefix,
            "SIEVE_CELERY__QUEUE": f"{redis_prefix}tasks",
            "SIEVE_CELERY__SOFT_TIME_LIMIT_S": "15",
            "SIEVE_CELERY__TIME_LIMIT_S": "20",
            "SIEVE_CELERY__VISIBILITY_TIMEOUT_S": "60",
            "SIEVE_LLM__BASE_URL": sim.base_url,
            "SIEVE_LLM__MODEL": "teacher-sim",
            "SIEVE_LLM__TIMEOUT_S": "5",
            "SIEVE_LLM__RETRY_BASE_S": "0.5",
            "SIEVE_LLM__RETRY_CAP_S": "4",
        }
        ensure_topics(kafka)
        workers = [CliProcess(env, "worker", "--concurrency", "2")]
        producer = make_producer(kafka)
        lines = [json.dumps({"id": f"run1-{r['id']}", "text": r["text"]}).encode() for r in rows]
        produce_lines(producer, kafka.input_topic, lines)
        stream = CliProcess(env, "stream", "--idle-timeout-s", "10")
        engine = make_engine(settings.database_url)

        # Kill the Celery worker (and its pool) with SIGKILL once, midway through labeling,
        # while the LLM endpoint holds its requests: what the dead worker was doing must be
        # redelivered and finished by the next one without a second paid call.
        _wait(lambda: sum(_labeled(engine, "run1-").values()) >= 60, 180, "first labels")
        sim.hold()
        time.sleep(1.0)
        workers[0].kill()
        sim.release(refuse_held=True)
        workers.append(CliProcess(env, "worker", "--concurrency", "2"))

        assert stream.wait(timeout_s=300) == 0
        escalated = _escalated(engine, "run1-")
        _wait(lambda: set(_labeled(engine, "run1-")) >= escalated, 300, "every LLM label")
        paid_first_run = sim.stats()["paid_calls"]

        # Second run over the same texts: the same messages escalate, all from the cache.
        lines2 = [json.dumps({"id": f"run2-{r['id']}", "text": r["text"]}).encode() for r in rows]
        produce_lines(producer, kafka.input_topic, lines2)
        stream2 = CliProcess(env, "stream", "--idle-timeout-s", "10")
        assert stream2.wait(timeout_s=300) == 0
        escalated2 = _escalated(engine, "run2-")
        _wait(lambda: set(_labeled(engine, "run2-")) >= escalated2, 300, "second-run labels")
        stats = sim.stats()
        for worker in workers[1:]:
            worker.stop(grace_s=60)
        producer.close()

    # About 30% escalated; exactly one LLM label row for each, none for the rest.
    assert 0.25 <= len(escalated) / MESSAGES <= 0.35
    per_message = _labeled(engine, "run1-")
    assert set(per_message) == escalated and max(per_message.values()) == 1
    assert (
        _scalar(engine, select(func.count()).select_from(labels).where(labels.c.status != "ok"))
        == 0
    )
    # No duplicate paid calls, despite 429s, 5xx and the killed worker.
    texts = {row["text"] for row in rows if f"run1-{row['id']}" in escalated}
    assert paid_first_run == len(texts)
    assert (
        stats["outcomes"].get("rate_limited", 0) > 0
        and stats["outcomes"].get("server_error", 0) > 0
    )
    # The second run: the same escalations, answered from the cache, no new call.
    assert {m.removeprefix("run2-") for m in escalated2} == {
        m.removeprefix("run1-") for m in escalated
    }
    assert stats["paid_calls"] == paid_first_run
    cached = (
        select(func.count())
        .select_from(labels)
        .where(labels.c.message_id.like("run2-%"), labels.c.cached.is_(True))
    )
    assert _scalar(engine, cached) == len(escalated2)

    # One final label event per escalated message (at most one extra per task in flight
    # when the worker was killed: a final event is at-least-once).
    events = [LabelEvent.decode(r.value) for r in read_topic(kafka, kafka.labels_topic)]
    finals = Counter(e.id for e in events if e.source is LabelSource.LLM and e.final)
    assert set(finals) == escalated | escalated2
    assert sum(finals.values()) - len(finals) <= 2
    assert _scalar(engine, select(func.count()).select_from(messages)) == 2 * MESSAGES
    engine.dispose()

"""Done-when of issue 8 item 5: `sieve stream` and `sieve worker` (two pool processes) serve
their metrics while they run, over real processes, the Tansu broker, Redis, PostgreSQL and
the teacher simulator. The simulator's own counters are the ground truth: the worker's
figures must be the sum over its pool processes, not one child's share."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from sieve.demo.processes import CliProcess
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import FaultRates
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.models.families import load_classifier
from sieve.store.engine import make_engine
from sieve.store.tables import labels, predictions
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.stream.produce import produce_lines
from tests.conftest import BANKING77
from tests.integration.conftest import activate

MESSAGES = 300
PRICE_IN_USD, PRICE_OUT_USD = 1.0, 2.0  # per 1M tokens: the simulator is free by default

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> CliProcess:
    # The log stays in the test's data dir (pytest keeps the last runs' tmp dirs).
    return CliProcess(env, *args, log=Path(env["SIEVE_DATA_DIR"]) / f"{args[0]}.log")


def _scrape(port: int) -> Samples:
    """Every sample on http://127.0.0.1:port/metrics; {} while nothing listens yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return {}
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _escalated(engine, prefix: str) -> set[str]:
    query = select(predictions.c.message_id).where(
        predictions.c.route == "escalate", predictions.c.message_id.like(f"{prefix}%")
    )
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def _labeled(engine, prefix: str) -> set[str]:
    query = select(labels.c.message_id).where(
        labels.c.status == "ok", labels.c.message_id.like(f"{prefix}%")
    )
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


@pytest.fixture
def rows() -> list[dict[str, str]]:
    lines = (BANKING77 / "test.jsonl").read_text().splitlines()
    every = [json.loads(line) for line in lines]
    return every[:: len(every) // MESSAGES][:MESSAGES]


def test_stream_and_celery_workers_serve_the_pipeline_metrics_while_running(
    settings, model_factory, redis_prefix, rows
):
    info = model_factory(0)
    activate(settings.database_url, info)
    texts = [row["text"] for row in rows]
    top = load_classifier(info.path).predict_proba(texts).max(axis=1)
    threshold = float(np.quantile(top, 0.30))  # about 30% escalate
    kafka = settings.kafka
    stream_port, worker_port = _free_port(), _free_port()
    teacher = load_teacher([BANKING77 / "test.jsonl"], accuracy=0.9, noise="confusable", seed=0)
    config = SimulatorConfig(faults=FaultRates(rate_limit=0.2), retry_after_s=1)
    with SimulatorServer(teacher, config) as sim:
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
            "SIEVE_STREAM__METRICS_PORT": str(stream_port),
            "SIEVE_CELERY__METRICS_PORT": str(worker_port),
            "SIEVE_ROUTING__MIN_CONFIDENCE": repr(threshold),
            "SIEVE_ROUTING__MIN_MARGIN": "0",
            "SIEVE_ROUTING__EXPLORATION_RATE": "0",
            "SIEVE_REDIS__KEY_PREFIX": redis_prefix,
            "SIEVE_CELERY__QUEUE": f"{redis_prefix}tasks",
            # A pool process's first task builds the labeling context, which imports torch
            # today (runtime → models.registry); on a loaded machine that outlasts 15 s, and
            # a soft time limit mid-import leaves the process unable to import it again.
            "SIEVE_CELERY__SOFT_TIME_LIMIT_S": "90",
            "SIEVE_CELERY__TIME_LIMIT_S": "120",
            "SIEVE_CELERY__VISIBILITY_TIMEOUT_S": "300",
            "SIEVE_LLM__BASE_URL": sim.base_url,
            "SIEVE_LLM__MODEL": "teacher-sim",
            "SIEVE_LLM__TIMEOUT_S": "5",
            "SIEVE_LLM__RETRY_BASE_S": "0.5",
            "SIEVE_LLM__RETRY_CAP_S": "2",
            "SIEVE_LLM__PRICES_USD_PER_1M": json.dumps(
                {"teacher-sim": [PRICE_IN_USD, PRICE_OUT_USD]}
            ),
        }
        ensure_topics(kafka)
        engine = make_engine(settings.database_url)
        producer = make_producer(kafka)
        stream = _cli(env, "stream")
        worker = None
        try:
            # No Celery worker yet: every escalation waits, and the backlog shows it.
            lines = [json.dumps({"id": f"a-{r['id']}", "text": r["text"]}).encode() for r in rows]
            produce_lines(producer, kafka.input_topic, lines)
            consumed = lambda: _value(_scrape(stream_port), "sieve_messages_consumed_total")  # noqa: E731
            _wait_for(lambda: consumed() >= MESSAGES, 120, "the stream worker's first messages")
            escalated = _escalated(engine, "a-")
            waiting = _scrape(stream_port)

            worker = _cli(env, "worker", "--concurrency", "2")
            _wait_for(lambda: _labeled(engine, "a-") >= escalated, 240, "the first labels")
            # A task stores its label row, then marks the escalation labeled: wait for that.
            # (Only here: in the second run the worker races the stream worker's "enqueued"
            # update, which can overwrite "labeled"; see test_escalation_status_race.py.)
            _wait_for(
                lambda: _value(_scrape(stream_port), "sieve_escalation_backlog") == 0,
                60,
                "an empty backlog",
            )
            drained = _scrape(stream_port)
            # The same texts again: every LLM answer now comes from the cache.
            lines = [json.dumps({"id": f"b-{r['id']}", "text": r["text"]}).encode() for r in rows]
            produce_lines(producer, kafka.input_topic, lines)
            _wait_for(lambda: consumed() >= 2 * MESSAGES, 120, "the second messages")
            escalated_again = _escalated(engine, "b-")
            _wait_for(lambda: _labeled(engine, "b-") >= escalated_again, 240, "the cached labels")
            # The last task ends a moment after its label row: wait for its outcome.
            _wait_for(
                lambda: (
                    _value(_scrape(worker_port), "sieve_labelings_total", outcome="cached")
                    >= len(escalated_again)
                ),
                60,
                "the last task's outcome",
            )
            truth = sim.stats()
            streamed, labeled = _scrape(stream_port), _scrape(worker_port)
        finally:
            stream_code = stream.stop(grace_s=60)
            if worker is not None:
                worker.stop(grace_s=60)
            producer.close()
        assert stream_code == 0
        assert worker is not None
        engine.dispose()

    assert 0.2 * MESSAGES <= len(escalated) <= 0.4 * MESSAGES
    # The stream worker: what it consumed and routed, batch time, model, backlog.
    assert _value(waiting, "sieve_escalation_backlog") == len(escalated)
    assert _value(drained, "sieve_escalation_backlog") == 0
    assert _value(streamed, "sieve_messages_consumed_total") == 2 * MESSAGES
    routed_escalate = sum(
        value
        for (name, labels_), value in streamed.items()
        if name == "sieve_messages_routed_total" and ("route", "escalate") in labels_
    )
    assert routed_escalate == len(escalated) + len(escalated_again)
    assert _value(streamed, "sieve_batch_seconds_count") > 0
    assert _value(streamed, "sieve_active_model_info", version=info.version) == 1

    # The Celery worker: its two pool processes summed equal the simulator's own counts.
    rate_limited = truth["outcomes"].get("rate_limited", 0)
    assert rate_limited > 0
    assert _value(labeled, "sieve_llm_calls_total", outcome="ok") == truth["paid_calls"]
    assert _value(labeled, "sieve_llm_calls_total", outcome="rate_limited") == rate_limited
    assert _value(labeled, "sieve_llm_call_seconds_count") == truth["requests"]
    assert _value(labeled, "sieve_llm_tokens_total", direction="input") == truth["prompt_tokens"]
    assert (
        _value(labeled, "sieve_llm_tokens_total", direction="output") == truth["completion_tokens"]
    )
    expected_cost_usd = (
        truth["prompt_tokens"] * PRICE_IN_USD + truth["completion_tokens"] * PRICE_OUT_USD
    ) / 1e6
    assert _value(labeled, "sieve_llm_cost_usd_total") == pytest.approx(expected_cost_usd)
    assert _value(labeled, "sieve_labeling_failures_total", kind="rate_limited") == rate_limited
    assert _value(labeled, "sieve_llm_cache_lookups_total", result="hit") >= len(escalated_again)
    assert _value(labeled, "sieve_labelings_total", outcome="cached") >= len(escalated_again)
    assert _value(labeled, "sieve_labelings_total", outcome="labeled") > 0

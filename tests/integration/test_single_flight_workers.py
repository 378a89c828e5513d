"""Done-when of issue 10 item 1, over real processes: 300 escalated messages carrying 100
distinct texts (each under three ids, queued side by side) and two Celery workers of two
processes each; the simulator counts exactly one paid call per text, and the ledger agrees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from sieve.core.dataset import read_labeled_jsonl
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import LatencySpec
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.store.engine import make_engine
from sieve.store.ledger import spend_totals
from sieve.store.repository import EscalationRecord, MessageRecord, save_messages
from sieve.store.tables import labels
from sieve.wiring import celery_sink
from sieve.workers.kafka_adapter import ensure_topics
from tests.conftest import BANKING77

pytestmark = pytest.mark.integration

TEXTS = 100
COPIES = 3


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sieve.cli", "worker", "--concurrency", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _labeled(engine) -> int:
    query = select(func.count()).select_from(labels).where(labels.c.status == "ok")
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_two_celery_workers_pay_once_per_distinct_text(settings, redis_prefix) -> None:
    ensure_topics(settings.kafka)
    settings = settings.model_copy(
        update={
            "labels_file": BANKING77 / "labels.txt",
            "redis": settings.redis.model_copy(update={"key_prefix": redis_prefix}),
            "celery": settings.celery.model_copy(update={"queue": f"{redis_prefix}tasks"}),
        }
    )
    items = read_labeled_jsonl(BANKING77 / "test.jsonl")[:TEXTS]
    ids = [f"t{t}-c{c}" for t in range(TEXTS) for c in range(COPIES)]
    engine = make_engine(settings.database_url)
    save_messages(
        engine, [MessageRecord(id=i, text=items[int(i[1:].split("-")[0])].text) for i in ids]
    )
    teacher = load_teacher([BANKING77 / "test.jsonl"], accuracy=1.0, noise="uniform", seed=0)
    kafka = settings.kafka
    with SimulatorServer(teacher, SimulatorConfig(latency=LatencySpec.parse("100-300"))) as sim:
        env = {
            **os.environ,
            "SIEVE_DATA_DIR": str(settings.data_dir),
            "SIEVE_LABELS_FILE": str(BANKING77 / "labels.txt"),
            "SIEVE_DATABASE__URL": settings.database_url,
            "SIEVE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "SIEVE_KAFKA__LABELS_TOPIC": kafka.labels_topic,
            "SIEVE_REDIS__KEY_PREFIX": redis_prefix,
            "SIEVE_CELERY__QUEUE": f"{redis_prefix}tasks",
            "SIEVE_LLM__BASE_URL": sim.base_url,
            "SIEVE_LLM__MODEL": "teacher-sim",
            "SIEVE_LLM__TIMEOUT_S": "5",
        }
        # The three copies of each text are queued next to each other: the four worker
        # processes take them at the same time.
        celery_sink(settings, engine).submit(
            [EscalationRecord(i, "v1", "low_confidence") for i in ids]
        )
        workers = [_worker(env), _worker(env)]
        try:
            deadline = time.monotonic() + 300
            while _labeled(engine) < len(ids):
                assert time.monotonic() < deadline, f"only {_labeled(engine)} labeled"
                assert all(w.poll() is None for w in workers), "a worker exited"
                time.sleep(0.5)
            truth = sim.stats()
        finally:
            for worker in workers:
                os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)

    assert truth["paid_calls"] == TEXTS and truth["requests"] == TEXTS
    assert truth["distinct_texts_paid"] == TEXTS
    assert spend_totals(engine).requests == TEXTS
    with engine.connect() as conn:
        cached = conn.execute(
            select(func.count()).select_from(labels).where(labels.c.cached.is_(True))
        ).scalar_one()
    assert cached == len(ids) - TEXTS
    engine.dispose()

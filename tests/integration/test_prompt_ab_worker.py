"""Done-when of issue 12 on the real task path: a `sieve worker` process with two prompt
versions configured (zero-shot and retrieval) labels escalations from Redis, against the
teacher simulator over HTTP. The two versions share the traffic, each label row and ledger
row carries the version that was assigned, and the retrieval prompt shows examples from
the store embedded by the active student (the simulator answers right only when an example
with the true label is in the prompt)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from sieve.core.dataset import read_labeled_jsonl
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.prompting import PromptSensitivity
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.store import prompt_arms
from sieve.store.engine import make_engine
from sieve.store.labels import LabelRecord, LabelStatus, save_label
from sieve.store.repository import EscalationRecord, MessageRecord, save_messages
from sieve.store.tables import labels, llm_requests
from sieve.wiring import celery_sink
from sieve.workers.kafka_adapter import ensure_topics
from tests.conftest import BANKING77
from tests.integration.conftest import activate

pytestmark = pytest.mark.integration

MESSAGES = 80
ZERO_SHOT, RETRIEVAL = "classify-zero-shot@1", "classify-retrieval@1"


def _ok_labels(engine) -> list[tuple[str, str, str]]:
    query = select(labels.c.message_id, labels.c.prompt_version, labels.c.label).where(
        labels.c.status == LabelStatus.OK, labels.c.source == "llm"
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def test_two_prompt_versions_share_the_traffic_of_a_worker(
    settings, model_factory, redis_prefix
) -> None:
    ensure_topics(settings.kafka)
    info = model_factory(0)
    activate(settings.database_url, info)
    settings = settings.model_copy(
        update={
            "labels_file": BANKING77 / "labels.txt",
            "redis": settings.redis.model_copy(update={"key_prefix": redis_prefix}),
            "celery": settings.celery.model_copy(update={"queue": f"{redis_prefix}tasks"}),
            "llm": settings.llm.model_copy(
                update={"prompts": "classify-zero-shot,classify-retrieval"}
            ),
        }
    )
    engine = make_engine(settings.database_url)
    # The retrieval pool: human labels on training texts (every 10th).
    pool = read_labeled_jsonl(BANKING77 / "train.jsonl")[::10]
    save_messages(engine, [MessageRecord(id=f"h-{r.id}", text=r.text) for r in pool])
    for record in pool:
        save_label(
            engine,
            LabelRecord(f"h-{record.id}", "human", "review", "", record.label, LabelStatus.OK),
        )
    tests = read_labeled_jsonl(BANKING77 / "test.jsonl")[::37][:MESSAGES]
    gold = {f"t-{r.id}": r.label for r in tests}
    save_messages(engine, [MessageRecord(id=f"t-{r.id}", text=r.text) for r in tests])
    # Never right without a relevant example, always right with one.
    teacher = load_teacher([BANKING77 / "test.jsonl"], accuracy=0.0, noise="uniform", seed=0)
    config = SimulatorConfig(prompts=PromptSensitivity(example_accuracy=1.0))
    kafka = settings.kafka
    with SimulatorServer(teacher, config) as sim:
        env = {
            **os.environ,
            "SIEVE_DATA_DIR": str(settings.data_dir),
            "SIEVE_LABELS_FILE": str(BANKING77 / "labels.txt"),
            "SIEVE_DATABASE__URL": settings.database_url,
            "SIEVE_MODELS__DIR": str(info.path.parent),
            "SIEVE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "SIEVE_KAFKA__LABELS_TOPIC": kafka.labels_topic,
            "SIEVE_REDIS__KEY_PREFIX": redis_prefix,
            "SIEVE_CELERY__QUEUE": f"{redis_prefix}tasks",
            "SIEVE_LLM__BASE_URL": sim.base_url,
            "SIEVE_LLM__MODEL": "teacher-sim",
            "SIEVE_LLM__TIMEOUT_S": "5",
            "SIEVE_LLM__PROMPTS": "classify-zero-shot,classify-retrieval",
            "SIEVE_BANDIT__SEED": "0",
        }
        celery_sink(settings, engine).submit(
            [EscalationRecord(message_id, "v1", "low_confidence") for message_id in gold]
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "sieve.cli", "worker", "--concurrency", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 240
            while len(_ok_labels(engine)) < MESSAGES:
                assert time.monotonic() < deadline, f"only {len(_ok_labels(engine))} labeled"
                assert worker.poll() is None, "the worker exited"
                time.sleep(0.5)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)

    rows = _ok_labels(engine)
    assert Counter(message_id for message_id, _, _ in rows) == dict.fromkeys(gold, 1)
    by_version = Counter(version for _, version, _ in rows)
    assert set(by_version) == {ZERO_SHOT, RETRIEVAL}
    assert min(by_version.values()) >= 10  # no rewards yet: both arms get traffic
    pool_id = prompt_arms.pool_of([ZERO_SHOT, RETRIEVAL])
    for message_id, version, _ in rows:
        assert prompt_arms.assigned(engine, pool_id, message_id) == version
    with engine.connect() as conn:
        ledger = dict(
            conn.execute(
                select(llm_requests.c.prompt_version, func.count()).group_by(
                    llm_requests.c.prompt_version
                )
            ).all()
        )
    assert ledger == dict(by_version)
    right = Counter(version for message_id, version, label in rows if label == gold[message_id])
    assert right[ZERO_SHOT] == 0
    # The retrieval prompt was shown examples with the true label for most messages.
    assert right[RETRIEVAL] / by_version[RETRIEVAL] > 0.5
    engine.dispose()

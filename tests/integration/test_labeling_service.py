"""label_escalated in-process on real Postgres, Redis and Tansu, against the simulator:
failures are stored as failed rows, a re-queue replaces them, nothing is paid twice."""

from __future__ import annotations

import json

import pytest
import redis
from sqlalchemy import select

from sieve.core.dataset import read_labeled_jsonl
from sieve.core.events import LabelEvent
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import FaultRates
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.store.engine import make_engine
from sieve.store.repository import EscalationRecord, MessageRecord, save_messages
from sieve.store.tables import escalations, labels
from sieve.wiring import celery_sink, labeling_context
from sieve.workers.kafka_adapter import ensure_topics
from sieve.workers.llm.escalation import StoreEscalationSink
from sieve.workers.llm.labeling import Outcome, label_escalated
from tests.conftest import BANKING77
from tests.integration.conftest import read_topic


@pytest.fixture(scope="module")
def teacher():
    return load_teacher([BANKING77 / "test.jsonl"], accuracy=1.0, noise="uniform", seed=0)


@pytest.fixture
def llm_settings(settings, redis_prefix):
    ensure_topics(settings.kafka)
    return settings.model_copy(
        update={
            "labels_file": BANKING77 / "labels.txt",
            "redis": settings.redis.model_copy(update={"key_prefix": redis_prefix}),
            "celery": settings.celery.model_copy(update={"queue": f"{redis_prefix}tasks"}),
        }
    )


def _context(settings, base_url: str):
    llm = settings.llm.model_copy(update={"base_url": base_url, "timeout_s": 5.0})
    return labeling_context(settings.model_copy(update={"llm": llm}))


def test_failed_label_is_replaced_by_a_requeue_and_never_paid_twice(llm_settings, teacher):
    item = read_labeled_jsonl(BANKING77 / "test.jsonl")[0]
    engine = make_engine(llm_settings.database_url)
    save_messages(engine, [MessageRecord(id="m1", text=item.text)])

    always_outside = SimulatorConfig(faults=FaultRates(outside_set=1.0))
    with SimulatorServer(teacher, always_outside) as sim:
        ctx = _context(llm_settings, sim.base_url)
        assert label_escalated(ctx, "m1") is Outcome.FAILED
        assert sim.stats()["paid_calls"] == 2  # the call and one corrective retry
    with engine.connect() as conn:
        row = conn.execute(select(labels.c.status, labels.c.error)).one()
    assert row.status == "failed" and "LabelOutsideSet" in row.error
    assert read_topic(llm_settings.kafka, llm_settings.kafka.labels_topic) == []

    with SimulatorServer(teacher) as sim:
        ctx = _context(llm_settings, sim.base_url)
        assert label_escalated(ctx, "m1") is Outcome.LABELED
        assert label_escalated(ctx, "m1") is Outcome.ALREADY_LABELED
        assert sim.stats()["paid_calls"] == 1
    with engine.connect() as conn:
        rows = conn.execute(select(labels.c.status, labels.c.label)).all()
    assert [(r.status, r.label) for r in rows] == [("ok", item.label)]
    (event,) = [
        LabelEvent.decode(r.value)
        for r in read_topic(llm_settings.kafka, llm_settings.kafka.labels_topic)
    ]
    assert (event.id, event.label, event.final, event.prompt_version) == (
        "m1",
        item.label,
        True,
        "classify-zero-shot@1",
    )
    engine.dispose()


def test_recorded_escalations_are_drained_into_tasks_once(llm_settings):
    engine = make_engine(llm_settings.database_url)
    save_messages(engine, [MessageRecord(id=f"d{i}", text=f"text {i}") for i in range(5)])
    StoreEscalationSink(engine).submit(
        [EscalationRecord(f"d{i}", "v1", "no_model") for i in range(5)]
    )
    client = redis.Redis.from_url(llm_settings.redis.url.get_secret_value())
    sink = celery_sink(llm_settings, engine)
    assert sink.drain(older_than_s=0) == 5
    assert sink.drain(older_than_s=0) == 0  # nothing pending any more
    sink.enqueue([f"d{i}" for i in range(5)])  # a redelivered batch: markers say no
    queued = [json.loads(raw) for raw in client.lrange(llm_settings.celery.queue, 0, -1)]
    task_ids = sorted(message["headers"]["id"] for message in queued)
    assert task_ids == sorted(f"label:d{i}:classify-zero-shot@1" for i in range(5))
    with engine.connect() as conn:
        assert set(conn.execute(select(escalations.c.status)).scalars()) == {"enqueued"}
    client.delete(llm_settings.celery.queue)
    engine.dispose()


def test_label_file_enqueues_what_is_missing_and_resumes(llm_settings, tmp_path, capsys):
    from sieve.jobs import label_file
    from sieve.store.labels import LabelRecord, save_label

    backlog = tmp_path / "backlog.jsonl"
    backlog.write_text(
        "".join(json.dumps({"id": f"b{i}", "text": f"t {i}"}) + "\n" for i in range(7))
    )
    client = redis.Redis.from_url(llm_settings.redis.url.get_secret_value())
    queue = llm_settings.celery.queue

    def queued() -> list[str]:
        return sorted(json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1))

    label_file(llm_settings, backlog, chunk_size=3)
    assert queued() == [f"label:b{i}:classify-zero-shot@1" for i in range(7)]
    # Interrupted and run again: nothing is enqueued twice.
    label_file(llm_settings, backlog, chunk_size=3)
    assert len(queued()) == 7
    assert "enqueued 0 labeling tasks" in capsys.readouterr().out
    # A text that got its label meanwhile is skipped, and said so.
    client.delete(queue, *client.scan_iter(f"{llm_settings.redis.key_prefix}enqueued:*"))
    engine = make_engine(llm_settings.database_url)
    save_label(engine, LabelRecord("b3", "llm", "classify-zero-shot@1", "teacher-sim", "x", "ok"))
    label_file(llm_settings, backlog, chunk_size=3)
    assert "b3" not in {task.split(":")[1] for task in queued()} and len(queued()) == 6
    assert "1 of 7 already labeled" in capsys.readouterr().out
    client.delete(queue)
    engine.dispose()


def test_label_jobs_endpoint_enqueues_through_the_celery_sink(llm_settings):
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from sieve.admin.app import create_app
    from sieve.store.labels import LabelRecord, save_label

    settings = llm_settings.model_copy(
        update={"admin": llm_settings.admin.model_copy(update={"token": SecretStr("t")})}
    )
    body = "".join(json.dumps({"id": f"j{i}", "text": f"t {i}"}) + "\n" for i in range(4))
    headers = {"Authorization": "Bearer t", "Content-Type": "application/x-ndjson"}
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    queue = settings.celery.queue
    engine = make_engine(settings.database_url)

    def queued() -> list[str]:
        return sorted(json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1))

    # No sink handed in: the app builds celery_sink on first use.
    with TestClient(create_app(settings, engine)) as api:
        first = api.post("/label-jobs", content=body, headers=headers, params={"chunk_size": 3})
        assert first.status_code == 202
        assert first.json() == {"received": 4, "already_labeled": 0, "enqueued": 4}
        assert queued() == [f"label:j{i}:classify-zero-shot@1" for i in range(4)]
        label = LabelRecord("j2", "llm", "classify-zero-shot@1", "teacher-sim", "x", "ok")
        save_label(engine, label)
        again = api.post("/label-jobs", content=body, headers=headers)
    assert again.json() == {"received": 4, "already_labeled": 1, "enqueued": 0}
    assert len(queued()) == 4  # resubmitted: the enqueue markers stop a second task
    client.delete(queue)
    engine.dispose()


def test_requeue_finds_tasks_lost_after_they_were_enqueued(llm_settings, capsys):
    """A broker without redelivery loses the tasks of a killed worker: the escalations stay
    `enqueued` with no label, and `sieve requeue --stuck-after-s` enqueues them again."""
    from sieve.jobs import requeue

    engine = make_engine(llm_settings.database_url)
    save_messages(engine, [MessageRecord(id=f"s{i}", text=f"text {i}") for i in range(3)])
    sink = celery_sink(llm_settings, engine)
    sink.submit([EscalationRecord(f"s{i}", "v1", "low_confidence") for i in range(3)])
    client = redis.Redis.from_url(llm_settings.redis.url.get_secret_value())
    queue = llm_settings.celery.queue
    assert client.llen(queue) == 3
    client.delete(queue)  # the worker that held them died

    requeue(llm_settings, failed=False, stuck_after_s=3600)  # not stuck for long enough
    assert client.llen(queue) == 0
    requeue(llm_settings, failed=False, stuck_after_s=0)
    queued = [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]
    assert sorted(queued) == [f"label:s{i}:classify-zero-shot@1" for i in range(3)]
    assert capsys.readouterr().out.splitlines()[-1] == "re-enqueued 3 messages"
    client.delete(queue)
    engine.dispose()

"""What one labeling task costs the database (issue 11: the task path's overhead is counted
in round trips): the message and its label read on one connection, the label row and the
escalation's move written in one transaction, and the store functions that do it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event, select

from sieve.core.dataset import read_labeled_jsonl
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.store.engine import make_engine
from sieve.store.escalations import EscalationStatus, set_escalation_status
from sieve.store.label_task import settle, task_state
from sieve.store.labels import LabelRecord, LabelStatus, mark_announced, save_label
from sieve.store.repository import EscalationRecord, MessageRecord, save_messages
from sieve.store.tables import escalations
from sieve.wiring import labeling_context
from sieve.workers.kafka_adapter import ensure_topics
from sieve.workers.llm.escalation import StoreEscalationSink
from sieve.workers.llm.labeling import Outcome, label_escalated
from tests.conftest import BANKING77


def _escalated(engine: Engine, message_id: str, text: str) -> None:
    save_messages(engine, [MessageRecord(id=message_id, text=text)])
    StoreEscalationSink(engine).submit([EscalationRecord(message_id, "v1", "no_model")])


def _status(engine: Engine, message_id: str) -> str:
    query = select(escalations.c.status).where(escalations.c.message_id == message_id)
    with engine.connect() as conn:
        return str(conn.execute(query).scalar_one())


def _llm(message_id: str, label: str | None, status: LabelStatus = LabelStatus.OK) -> LabelRecord:
    return LabelRecord(message_id, "llm", "p@1", "model", label, status)


@pytest.fixture
def llm_settings(settings, redis_prefix):
    ensure_topics(settings.kafka)
    return settings.model_copy(
        update={
            "labels_file": BANKING77 / "labels.txt",
            "redis": settings.redis.model_copy(update={"key_prefix": redis_prefix}),
        }
    )


def test_one_labeling_task_opens_four_connections_and_commits_three_times(llm_settings):
    item = read_labeled_jsonl(BANKING77 / "test.jsonl")[0]
    engine = make_engine(llm_settings.database_url)
    _escalated(engine, "m1", item.text)
    teacher = load_teacher([BANKING77 / "test.jsonl"], accuracy=1.0, noise="uniform", seed=0)
    with SimulatorServer(teacher) as sim:
        llm = llm_settings.llm.model_copy(update={"base_url": sim.base_url, "timeout_s": 5.0})
        ctx = labeling_context(llm_settings.model_copy(update={"llm": llm}))
        connections: list[object] = []
        commits: list[object] = []
        event.listen(ctx.engine, "engine_connect", lambda conn: connections.append(conn))
        event.listen(ctx.engine, "commit", lambda conn: commits.append(conn))
        assert label_escalated(ctx, "m1") is Outcome.LABELED
        ctx.producer.close(timeout_s=10)
        ctx.engine.dispose()
    # Read the message and its label; the ledger row of the request; the label row with
    # the escalation's move; the announcement after the broker's ack.
    assert (len(connections), len(commits)) == (4, 3)
    assert _status(engine, "m1") == "labeled"
    engine.dispose()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_settle_stores_the_label_and_moves_the_escalation_together(store_url):
    engine = make_engine(store_url)
    _escalated(engine, "m1", "where is my card")
    set_escalation_status(engine, ["m1"], EscalationStatus.ENQUEUED)

    failed = settle(engine, _llm("m1", None, LabelStatus.FAILED), EscalationStatus.FAILED)
    assert (failed.status, failed.label, _status(engine, "m1")) == ("failed", None, "failed")
    stored = settle(engine, _llm("m1", "card_arrival"), EscalationStatus.LABELED)
    assert (stored.status, stored.label, stored.announced) == ("ok", "card_arrival", False)
    assert _status(engine, "m1") == "labeled"

    # A late duplicate: the OK row is kept (read back, announced or not) and the
    # escalation does not move back.
    mark_announced(engine, "m1", "p@1", "model")
    late = settle(engine, _llm("m1", None, LabelStatus.FAILED), EscalationStatus.FAILED)
    assert (late.status, late.label, late.announced) == ("ok", "card_arrival", True)
    assert _status(engine, "m1") == "labeled"
    engine.dispose()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_task_state_reads_the_message_and_its_label(store_url):
    engine = make_engine(store_url)
    assert task_state(engine, "nowhere", "p@1", "model").message is None
    _escalated(engine, "m1", "where is my card")
    first = task_state(engine, "m1", "p@1", "model")
    assert first.message is not None and first.message.text == "where is my card"
    assert first.label is None
    save_label(engine, _llm("m1", "card_arrival"))
    label = task_state(engine, "m1", "p@1", "model").label
    assert label is not None and (label.status, label.label) == ("ok", "card_arrival")
    assert task_state(engine, "m1", "p@2", "model").label is None  # another prompt version
    engine.dispose()

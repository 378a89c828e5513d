"""Finding 1 on both stores: a record the store refuses costs only itself, never its batch."""

import dataclasses
import json

from sqlalchemy import select

from sieve.core.events import LabelEvent
from sieve.core.settings import KafkaSettings, RoutingSettings, StreamSettings
from sieve.store.engine import make_engine
from sieve.store.tables import messages
from sieve.workers.records import Partition, Record
from sieve.workers.stream.batch import process_batch
from sieve.workers.stream.checkpoint import Checkpoint
from tests.fakes import FakeClassifier, FakeConsumer, FakeProducer, LoggingEscalationSink

ROUTING = RoutingSettings(min_confidence=0.5, min_margin=0.25, exploration_rate=0.0)


def _record(offset: int) -> Record:
    value = json.dumps({"id": f"m{offset}", "text": f"text {offset}"}).encode()
    return Record("feedback", 0, offset, None, value)


def test_refused_records_are_dead_lettered_and_the_rest_commits(store_url):
    """Rows the decoder would now refuse are forced into the outcome: the store must
    refuse them (a lone surrogate on both stores; NUL, NaN and an over-long source on
    PostgreSQL), the checkpoint bisects down to them, and the other 40 rows commit."""
    engine = make_engine(store_url)
    records = [_record(i) for i in range(44)]
    outcome = process_batch(records, FakeClassifier(["a", "b"]), ROUTING, StreamSettings())
    poison = {
        3: {"text": "bad \ud800"},
        17: {"id": "m17\udc00"},
        29: {"text": "nul \x00"} if "postgresql" in store_url else {"text": "ok \ud83d"},
        40: {"meta": {"v": float("nan")}, "source": "s" * 500}
        if "postgresql" in store_url
        else {"source": "\udfff"},
    }
    for index, change in poison.items():
        outcome.messages[index] = dataclasses.replace(outcome.messages[index], **change)
    log: list = []
    producer = FakeProducer(log)
    sink = LoggingEscalationSink(log)
    checkpoint = Checkpoint(
        engine=engine,
        sink=sink,
        producer=producer,
        consumer=FakeConsumer(log=log),
        topics=KafkaSettings(),
    )
    checkpoint.complete(outcome, {Partition("feedback", 0): 44})

    good = {f"m{i}" for i in range(44) if i not in poison}
    with engine.connect() as conn:
        stored = set(conn.execute(select(messages.c.id)).scalars())
    assert stored == good
    letters = producer.on("feedback.dlq")
    assert sorted(int(h["sieve.source.offset"]) for _, _, h in letters) == sorted(poison)
    assert {h["sieve.reason"] for _, _, h in letters} == {b"store_rejected"}
    events = [LabelEvent.decode(v) for _, v, _ in producer.on("feedback.labels")]
    assert {e.id for e in events} == good  # no event for a refused record
    assert {row.message_id for row in sink.submitted} == good  # all escalate (uniform)
    engine.dispose()

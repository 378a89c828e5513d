"""The commit protocol with fakes of the Kafka side and a real (SQLite) store."""

import json

import pytest

from sieve.core.errors import KafkaUnavailable
from sieve.core.events import LabelEvent, LabelSource
from sieve.core.settings import KafkaSettings, RoutingSettings, StreamSettings
from sieve.workers.records import Partition, Record
from sieve.workers.stream.batch import process_batch
from sieve.workers.stream.checkpoint import Checkpoint
from tests.fakes import FakeClassifier, FakeConsumer, FakeProducer, LoggingEscalationSink

FEEDBACK_0 = Partition("feedback", 0)
ROUTING = RoutingSettings(min_confidence=0.5, min_margin=0.25, exploration_rate=0.0)
CLASSIFIER = FakeClassifier(["card", "refund"], {"sure": [0.875, 0.125]}, default=[0.5, 0.5])


def record(offset: int, value: bytes | None, headers=()) -> Record:
    return Record("feedback", 0, offset, b"k", value, headers)


def message(offset: int, text: str) -> Record:
    return record(offset, json.dumps({"id": f"m{offset}", "text": text}).encode())


def checkpoint(engine, log, **producer_limits):
    kafka = KafkaSettings(max_request_size_bytes=producer_limits.pop("max_request", 1_048_576))
    producer = FakeProducer(log, max_request_bytes=kafka.max_request_size_bytes, **producer_limits)
    committer = FakeConsumer(log=log)
    sink = LoggingEscalationSink(log)
    return (
        Checkpoint(engine=engine, sink=sink, producer=producer, consumer=committer, topics=kafka),
        producer,
        committer,
    )


def _complete(cp, records):
    outcome = process_batch(records, CLASSIFIER, ROUTING, StreamSettings())
    cp.complete(outcome, {FEEDBACK_0: records[-1].offset + 1})
    return outcome


def test_provisional_events_are_durable_before_escalations_are_enqueued(sqlite_engine):
    """Finding 4: escalations were enqueued before the batch's events were produced, so the
    LLM's final event could reach the labels topic before the provisional one."""
    log: list = []
    cp, producer, _ = checkpoint(sqlite_engine, log)
    _complete(cp, [message(0, "sure"), message(1, "unsure")])
    steps = [entry[0] for entry in log]
    assert steps.index("escalate") > steps.index("flush") > steps.index("send")
    assert steps[-1] == "commit"
    provisional = [LabelEvent.decode(v) for _, v, _ in producer.on("feedback.labels")]
    assert [(e.id, e.final, e.revision) for e in provisional] == [("m0", True, 1), ("m1", False, 1)]


def test_revisions_grow_from_model_to_llm_to_human():
    events = [
        LabelEvent("m", "a", 0.5, source, False, None)
        for source in (LabelSource.MODEL, LabelSource.LLM, LabelSource.HUMAN)
    ]
    assert [e.revision for e in events] == [1, 2, 3]
    decoded = [LabelEvent.decode(e.encode()) for e in events]
    assert [json.loads(e.encode())["revision"] for e in events] == [1, 2, 3]
    assert decoded == events


def test_dead_letter_too_large_to_resend_is_cut_and_sent_once(sqlite_engine):
    """Finding 2: a dead letter over the producer's limit was retried forever, and every
    try re-sent the batch's label events."""
    log: list = []
    cp, producer, committer = checkpoint(sqlite_engine, log, max_request=20_000)
    big = record(2, b"x" * 30_000, headers=[("trace", b"abc")])
    _complete(cp, [message(0, "sure"), message(1, "unsure"), big])
    assert len(producer.on("feedback.labels")) == 2  # each event once
    [(key, value, headers)] = producer.on("feedback.dlq")
    assert key == b"k" and 0 < len(value) < 20_000 and b"x" * 100 in value
    assert headers["sieve.reason"] == b"too_large"
    assert headers["trace"] == b"abc"  # the record's own headers are kept
    assert (headers["sieve.source.topic"], headers["sieve.source.offset"]) == (b"feedback", b"2")
    assert b"30000" in headers["sieve.detail"]
    assert committer.commits == [{FEEDBACK_0: 3}]


def test_dead_letter_the_broker_refuses_goes_as_headers_only(sqlite_engine):
    log: list = []
    cp, producer, committer = checkpoint(sqlite_engine, log, broker_max_bytes=1_000)
    _complete(cp, [message(0, "sure"), record(1, b"{" + b" " * 5_000)])
    letters = producer.on("feedback.dlq")
    assert [len(value) for _, value, _ in letters] == [5_001, 0]
    assert letters[-1][2]["sieve.reason"] == b"too_large"
    assert b"not_json" in letters[-1][2]["sieve.detail"]  # the first reason stays readable
    assert len(producer.on("feedback.labels")) == 1
    assert len(committer.commits) == 1


def test_a_produce_failure_commits_nothing_and_enqueues_nothing(sqlite_engine):
    log: list = []
    cp, _, committer = checkpoint(sqlite_engine, log, failing_flushes=1)
    with pytest.raises(KafkaUnavailable):
        _complete(cp, [message(0, "sure"), message(1, "unsure")])
    assert committer.commits == []
    assert [entry[0] for entry in log] == ["send", "send", "flush"]  # no escalate, no commit

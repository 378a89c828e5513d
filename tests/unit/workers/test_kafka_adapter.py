"""The adapter's translation at the kafka-python boundary: its types and errors become
Sieve's. kafka-python's clients are replaced by stand-ins (a third-party boundary), so
this runs without a broker; tests/integration drives the real clients."""

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
)
from kafka.structs import OffsetAndMetadata

from sieve.core.errors import KafkaUnavailable, RecordTooLarge
from sieve.workers.error_policy import classify
from sieve.workers.kafka_adapter import (
    KafkaRecordConsumer,
    KafkaRecordProducer,
    record_size_bytes,
    translate_error,
)
from sieve.workers.records import Partition, Record

TP0 = TopicPartition("feedback", 0)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (KafkaTimeoutError(), KafkaUnavailable),
        (KafkaConnectionError(), KafkaUnavailable),
        (CommitFailedError(), KafkaUnavailable),
        (MessageSizeTooLargeError("big"), RecordTooLarge),
        (ValueError("not Kafka's"), type(None)),
    ],
)
def test_kafka_errors_become_sieve_errors(error, kind):
    assert type(translate_error(error, "what")) is kind
    # The loop's safety net gives the same answer for one that escaped untranslated.
    assert type(classify(error)) is kind


class StandInConsumer:
    """Answers like kafka-python's KafkaConsumer; ``error`` makes every call raise it."""

    def __init__(self, polled=None, error: Exception | None = None) -> None:
        self.polled = polled or {}
        self.error = error
        self.calls: list = []

    def _call(self, *call):
        self.calls.append(call)
        if self.error is not None:
            raise self.error

    def poll(self, timeout_ms, max_records):
        self._call("poll", timeout_ms, max_records)
        return self.polled

    def assignment(self):
        self._call("assignment")
        return {TP0}

    def seek(self, tp, offset):
        self._call("seek", tp, offset)

    def commit(self, offsets):
        self._call("commit", offsets)

    def close(self, autocommit=True):
        self.calls.append(("close", autocommit))


def consumer_record(offset: int, headers) -> ConsumerRecord:
    return ConsumerRecord("feedback", 0, -1, offset, 0, 0, b"k", b"v", headers, None, 0, 1, 0)


def test_the_consumer_speaks_records_and_partitions():
    stand_in = StandInConsumer({TP0: [consumer_record(7, [("h", b"1")]), consumer_record(8, [])]})
    consumer = KafkaRecordConsumer(stand_in)
    assert consumer.poll(500, 10) == [
        Record("feedback", 0, 7, b"k", b"v", (("h", b"1"),)),
        Record("feedback", 0, 8, b"k", b"v", ()),
    ]
    assert consumer.assignment() == {Partition("feedback", 0)}
    consumer.seek(Partition("feedback", 0), 7)
    consumer.commit({Partition("feedback", 0): 9})
    consumer.close()
    assert stand_in.calls[1:] == [
        ("assignment",),
        ("seek", TP0, 7),
        ("commit", {TP0: OffsetAndMetadata(9, "", -1)}),
        ("close", False),  # never commits on close: offsets are the checkpoint's
    ]


@pytest.mark.parametrize("call", ["poll", "commit", "seek", "assignment"])
def test_a_consumer_failure_is_kafka_unavailable_with_its_cause(call):
    consumer = KafkaRecordConsumer(StandInConsumer(error=KafkaConnectionError("refused")))
    arguments = {
        "poll": (500, 10),
        "commit": ({Partition("feedback", 0): 1},),
        "seek": (Partition("feedback", 0), 0),
        "assignment": (),
    }[call]
    with pytest.raises(KafkaUnavailable) as raised:
        getattr(consumer, call)(*arguments)
    assert isinstance(raised.value.__cause__, KafkaConnectionError)


class StandInFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout=None):
        if self.error is not None:
            raise self.error


class StandInProducer:
    """Answers like kafka-python's KafkaProducer: refuses at send, at flush or at get."""

    def __init__(self, *, at_send=None, at_flush=None, at_get=None) -> None:
        self.at_send, self.at_flush, self.at_get = at_send, at_flush, at_get
        self.sent: list = []

    def send(self, topic, key=None, value=None, headers=None):
        if self.at_send is not None:
            raise self.at_send
        self.sent.append((topic, key, value, headers))
        return StandInFuture(self.at_get)

    def flush(self, timeout=None):
        if self.at_flush is not None:
            raise self.at_flush


def test_the_producer_passes_records_through():
    stand_in = StandInProducer()
    producer = KafkaRecordProducer(stand_in)
    producer.send("t", key=b"k", value=b"v", headers=(("h", b"1"),)).get(timeout_s=0)
    producer.flush(timeout_s=1)
    assert stand_in.sent == [("t", b"k", b"v", [("h", b"1")])]


@pytest.mark.parametrize(
    ("stand_in", "kind"),
    [
        (StandInProducer(at_send=MessageSizeTooLargeError("big")), RecordTooLarge),
        (StandInProducer(at_send=KafkaTimeoutError("metadata")), KafkaUnavailable),
        (StandInProducer(at_flush=KafkaTimeoutError("flush")), KafkaUnavailable),
        (StandInProducer(at_get=MessageSizeTooLargeError("broker")), RecordTooLarge),
        (StandInProducer(at_get=KafkaConnectionError("gone")), KafkaUnavailable),
    ],
)
def test_a_producer_failure_is_translated_wherever_it_arises(stand_in, kind):
    producer = KafkaRecordProducer(stand_in)
    with pytest.raises(kind):
        future = producer.send("t", key=b"k", value=b"v")
        producer.flush()
        future.get(timeout_s=0)


def test_record_size_counts_value_and_headers():
    empty = record_size_bytes(b"k", b"", [])
    assert record_size_bytes(b"k", b"x" * 1_000, []) >= empty + 1_000
    assert record_size_bytes(b"k", b"", [("trace", b"y" * 100)]) >= empty + 105

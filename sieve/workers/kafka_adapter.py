"""The one module that imports kafka-python: it builds the clients from KafkaSettings, so
every process configures them alike, and wraps them in Sieve's roles (sieve.workers.records).

What crosses this boundary is Sieve's own: ``Record`` and ``Partition`` instead of
kafka-python's ConsumerRecord and TopicPartition, and Sieve's errors instead of KafkaError
(``translate_error``): a size refusal (MessageSizeTooLargeError) is ``RecordTooLarge``,
permanent for that record since resending the same bytes cannot succeed; everything else
is ``KafkaUnavailable``, worth retrying.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import contextmanager

from kafka import (
    ConsumerRebalanceListener,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    TopicPartition,
)
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError, MessageSizeTooLargeError, TopicAlreadyExistsError
from kafka.producer.future import FutureRecordMetadata
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.structs import OffsetAndMetadata

from sieve.core.errors import KafkaUnavailable, RecordTooLarge, SieveError, TransientError
from sieve.core.settings import KafkaSettings
from sieve.workers.records import Header, Headers, Partition, Record

logger = logging.getLogger(__name__)


def translate_error(exc: BaseException, what: str = "Kafka") -> SieveError | None:
    """Sieve's error for a kafka-python one (None for anything else)."""
    if isinstance(exc, MessageSizeTooLargeError):
        return RecordTooLarge(f"{what}: {exc}")
    if isinstance(exc, KafkaError):
        return KafkaUnavailable(f"{what}: {exc}")
    return None


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except KafkaError as exc:
        error = translate_error(exc, what)
        assert error is not None
        raise error from exc


def record_size_bytes(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """What kafka-python counts against the producer's max_request_size for one record."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


class KafkaRecordConsumer:
    """A RecordConsumer over kafka-python's KafkaConsumer (manual commits)."""

    def __init__(self, consumer: KafkaConsumer) -> None:
        self._consumer = consumer

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]:
        with _translated("polling failed"):
            polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        return [_record(record) for records in polled.values() for record in records]

    def assignment(self) -> Set[Partition]:
        with _translated("reading the assignment failed"):
            return {_partition(tp) for tp in self._consumer.assignment()}

    def seek(self, partition: Partition, offset: int) -> None:
        with _translated(f"seeking {partition} failed"):
            self._consumer.seek(_topic_partition(partition), offset)

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        metadata = {
            _topic_partition(partition): OffsetAndMetadata(offset, "", -1)
            for partition, offset in offsets.items()
        }
        with _translated("offset commit failed"):
            self._consumer.commit(metadata)

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class _KafkaSendResult:
    def __init__(self, future: FutureRecordMetadata, topic: str) -> None:
        self._future = future
        self._topic = topic

    def get(self, timeout_s: float | None = None) -> None:
        with _translated(f"producing to {self._topic} failed"):
            self._future.get(timeout=timeout_s)


class KafkaRecordProducer:
    """A RecordProducer over kafka-python's KafkaProducer."""

    def __init__(self, producer: KafkaProducer) -> None:
        self._producer = producer

    def send(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Headers | None = None,
    ) -> _KafkaSendResult:
        listed = None if headers is None else list(headers)
        # try/except rather than _translated: this runs once per label event, and the
        # context manager and its message string cost more than the rest of this method.
        try:
            future = self._producer.send(topic, key=key, value=value, headers=listed)
        except KafkaError as exc:
            error = translate_error(exc, f"producing to {topic} failed")
            assert error is not None
            raise error from exc
        return _KafkaSendResult(future, topic)

    def flush(self, timeout_s: float | None = None) -> None:
        with _translated("flushing the producer failed"):
            self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        self._producer.close(timeout=timeout_s)


PRODUCER_BATCH_BYTES = 256 * 1024
_METADATA_WAIT_S = 30.0


def make_reader(settings: KafkaSettings, topic: str) -> KafkaRecordConsumer:
    """Every partition of ``topic`` from its start, outside any consumer group: no join to
    wait for, no offsets committed. For tools that watch a topic (the benchmarks)."""
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=None,
            client_id=f"{settings.client_id}-reader",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            max_poll_records=settings.max_batch_size,
        )
    except KafkaError as exc:
        raise TransientError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    deadline = time.monotonic() + _METADATA_WAIT_S
    partitions = consumer.partitions_for_topic(topic)
    while not partitions:
        if time.monotonic() > deadline:
            consumer.close()
            raise TransientError(f"no partitions for topic {topic} after {_METADATA_WAIT_S:.0f}s")
        time.sleep(0.1)
        consumer.topics()  # refreshes the metadata
        partitions = consumer.partitions_for_topic(topic)
    consumer.assign([TopicPartition(topic, partition) for partition in sorted(partitions)])
    consumer.seek_to_beginning()
    return KafkaRecordConsumer(consumer)


def make_consumer(settings: KafkaSettings) -> KafkaRecordConsumer:
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=settings.group_id,
            client_id=f"{settings.client_id}-stream",
            enable_auto_commit=False,
            auto_offset_reset=settings.auto_offset_reset,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            max_poll_interval_ms=settings.max_poll_interval_ms,
            max_poll_records=settings.max_batch_size,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
        )
    except KafkaError as exc:
        raise TransientError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    consumer.subscribe([settings.input_topic], listener=_LogAssignment())
    return KafkaRecordConsumer(consumer)


def make_producer(settings: KafkaSettings, *, linger_ms: int = 5) -> KafkaRecordProducer:
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.client_id}-producer",
            acks="all",
            linger_ms=linger_ms,
            # A stream batch's label events (~200 bytes each) fit a few record batches: each
            # new one wakes the sender thread, which showed in the worker's profile at 16 KiB.
            batch_size=PRODUCER_BATCH_BYTES,
            retries=5,
            max_request_size=settings.max_request_size_bytes,
        )
    except KafkaError as exc:
        raise TransientError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    return KafkaRecordProducer(producer)


def ensure_topics(settings: KafkaSettings, partitions: int = 1) -> None:
    """Create the input, labels and DLQ topics if they do not exist yet."""
    names = (settings.input_topic, settings.labels_topic, settings.dlq_topic)
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    except KafkaError as exc:
        raise TransientError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    try:
        missing = [name for name in names if name not in set(admin.list_topics())]
        if missing:
            admin.create_topics(
                [
                    NewTopic(name, num_partitions=partitions, replication_factor=1)
                    for name in missing
                ]
            )
    except TopicAlreadyExistsError:
        pass  # another process created it between our list and create
    except KafkaError as exc:
        raise TransientError(
            f"cannot create topics on {settings.bootstrap_servers}: {exc}"
        ) from exc
    finally:
        admin.close()


def _record(record: ConsumerRecord) -> Record:
    headers: Sequence[Header] = tuple(record.headers or ())
    return Record(record.topic, record.partition, record.offset, record.key, record.value, headers)


def _partition(tp: TopicPartition) -> Partition:
    return Partition(tp.topic, tp.partition)


def _topic_partition(partition: Partition) -> TopicPartition:
    return TopicPartition(partition.topic, partition.partition)


class _LogAssignment(ConsumerRebalanceListener):
    """Says which partitions this worker holds: with several workers in one group (the way
    to grow past one process), the log shows how the group shared the partitions."""

    def on_partitions_revoked(self, revoked: Set[TopicPartition]) -> None:
        if revoked:
            logger.info("partitions revoked: %s", _names(revoked))

    def on_partitions_assigned(self, assigned: Set[TopicPartition]) -> None:
        logger.info("partitions assigned: %s", _names(assigned) or "none")


def _names(partitions: Set[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(partitions))

"""Sieve's own view of Kafka: records, partitions, and the consumer and producer roles.

Nothing here imports kafka-python: ``sieve.workers.kafka_adapter`` is the one module that
does, and it implements these roles (``KafkaRecordConsumer``, ``KafkaRecordProducer``).
Tests implement them with fakes (``tests/fakes.py``), so the poll loop and the commit
protocol run in-process without a broker.

Errors: an implementation raises only Sieve's errors (sieve.core.errors):
``RecordTooLarge`` when a record is refused for its size (permanent for that record), and
``KafkaUnavailable`` (a TransientError) for everything else the broker or client reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Protocol

Header = tuple[str, bytes]
Headers = Sequence[Header]


@dataclass(frozen=True, order=True)
class Partition:
    """One partition of a topic: the key of offsets."""

    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]"


@dataclass(frozen=True)
class Record:
    """One consumed record: where it was read from and what it carries."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    @property
    def source(self) -> Partition:
        return Partition(self.topic, self.partition)


class SendResult(Protocol):
    """What a send returns: ``get`` raises the broker's refusal, if any (as Sieve's error)."""

    def get(self, timeout_s: float | None = None) -> None: ...


class RecordProducer(Protocol):
    """Sends records. A send is durable once ``flush`` returned and its result's ``get``
    did not raise."""

    def send(
        self,
        topic: str,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Headers | None = None,
    ) -> SendResult: ...

    def flush(self, timeout_s: float | None = None) -> None: ...

    def close(self, timeout_s: float | None = None) -> None: ...


class OffsetCommitter(Protocol):
    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit, synchronously, the next offset to read of each partition."""


class RecordConsumer(OffsetCommitter, Protocol):
    """Reads records of the partitions the group assigned to this consumer."""

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]:
        """Up to ``max_records`` records, in partition order; [] after ``timeout_ms``."""

    def assignment(self) -> Set[Partition]: ...

    def seek(self, partition: Partition, offset: int) -> None:
        """Make the next poll of ``partition`` start at ``offset``."""

    def close(self) -> None:
        """Leave the group without committing."""


def next_offsets(records: Sequence[Record]) -> dict[Partition, int]:
    """The offset to commit per partition after ``records``: the last one read, plus one."""
    offsets: dict[Partition, int] = {}
    for record in records:
        offsets[record.source] = max(offsets.get(record.source, 0), record.offset + 1)
    return offsets


def first_offsets(records: Sequence[Record]) -> dict[Partition, int]:
    """The earliest offset per partition in ``records``: where to rewind to read them again."""
    offsets: dict[Partition, int] = {}
    for record in records:
        offsets[record.source] = min(offsets.get(record.source, record.offset), record.offset)
    return offsets

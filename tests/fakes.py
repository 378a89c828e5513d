"""Test doubles that implement Sieve's own Protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sieve.core.errors import KafkaUnavailable, RecordTooLarge
from sieve.models.classifier import ModelScores
from sieve.workers.kafka_adapter import record_size_bytes
from sieve.workers.records import Partition, Record


class FakeClassifier:
    """A FastClassifier whose answer per text is scripted; unknown texts get ``default``."""

    def __init__(
        self,
        labels: Sequence[str],
        answers: Mapping[str, Sequence[float]] | None = None,
        *,
        version: str = "fake-1",
        default: Sequence[float] | None = None,
        similarity: Mapping[str, float] | None = None,
    ) -> None:
        self.labels = tuple(labels)
        # Scripted nearest-training-example similarity per text (1.0 for others); None: the
        # classifier has no embedding, like a model without reference embeddings.
        self._similarity = None if similarity is None else dict(similarity)
        self.version = version
        self._answers = dict(answers or {})
        uniform = [1.0 / len(self.labels)] * len(self.labels)
        self._default = list(default) if default is not None else uniform
        self.calls: list[list[str]] = []

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [self._answers.get(text, self._default) for text in texts]
        return np.asarray(rows, dtype=np.float32)

    def predict_scores(self, texts: Sequence[str]) -> ModelScores:
        if self._similarity is None:
            return ModelScores(self.predict_proba(texts), similarity=None)
        similar = [self._similarity.get(text, 1.0) for text in texts]
        return ModelScores(self.predict_proba(texts), np.asarray(similar, dtype=np.float32))


class FakeEscalationSink:
    def __init__(self) -> None:
        self.submitted: list = []

    def submit(self, escalations: Sequence) -> None:
        self.submitted.extend(escalations)


class FlakyEscalationSink(FakeEscalationSink):
    """Fails the first ``failures`` submissions with a TransientError, then accepts."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    def submit(self, escalations: Sequence) -> None:
        from sieve.core.errors import TransientError

        self.attempts += 1
        if self.attempts <= self.failures:
            raise TransientError("escalation sink unavailable")
        super().submit(escalations)


class FakeBacklogSink:
    """Implements sieve.workers.llm.backlog.BacklogSink: every enqueue call is kept, in order;
    ``fail_with`` makes enqueue raise (after the first ``fail_after`` calls)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail_with: Exception | None = None
        self.fail_after = 0

    @property
    def enqueued(self) -> list[str]:
        return [message_id for call in self.calls for message_id in call]

    def enqueue(self, message_ids: Sequence[str]) -> int:
        if self.fail_with is not None and len(self.calls) >= self.fail_after:
            raise self.fail_with
        self.calls.append(list(message_ids))
        return len(message_ids)


class FakeSendResult:
    """What RecordProducer.send returns: ``get`` raises the broker's answer, if any."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get(self, timeout_s: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class FakeProducer:
    """Implements sieve.workers.records.RecordProducer, in memory (after dramatiq's
    StubBroker). Like kafka-python's producer behind our adapter it refuses at send() a
    record above ``max_request_bytes`` (RecordTooLarge); ``broker_max_bytes`` makes the
    broker refuse larger values at get(); ``failing_flushes`` makes that many flushes raise
    KafkaUnavailable. Every call lands in ``log`` (shared with other fakes to check the
    order of steps)."""

    def __init__(
        self,
        log: list | None = None,
        *,
        max_request_bytes: int = 1_048_576,
        broker_max_bytes: int | None = None,
        failing_flushes: int = 0,
    ) -> None:
        self.log = log if log is not None else []
        self.sent: list[tuple[str, bytes | None, bytes | None, list]] = []
        self.max_request_bytes = max_request_bytes
        self.broker_max_bytes = broker_max_bytes
        self.failing_flushes = failing_flushes
        self.closed = False

    def send(self, topic, *, key=None, value=None, headers=None):
        headers = list(headers or [])
        size = record_size_bytes(key, value, headers)
        if size > self.max_request_bytes:
            raise RecordTooLarge(f"{size} bytes")
        self.log.append(("send", topic))
        self.sent.append((topic, key, value, headers))
        if self.broker_max_bytes is not None and len(value or b"") > self.broker_max_bytes:
            return FakeSendResult(RecordTooLarge("refused by the broker"))
        return FakeSendResult()

    def flush(self, timeout_s: float | None = None) -> None:
        self.log.append(("flush",))
        if self.failing_flushes > 0:
            self.failing_flushes -= 1
            raise KafkaUnavailable("flush timed out")

    def close(self, timeout_s: float | None = None) -> None:
        self.closed = True

    def on(self, topic: str) -> list[tuple[bytes | None, bytes | None, dict]]:
        return [(k, v, dict(h)) for t, k, v, h in self.sent if t == topic]


class FakeConsumer:
    """Implements sieve.workers.records.RecordConsumer over in-memory partitions: ``poll``
    reads from each partition's position, ``seek`` moves it, ``commit`` keeps the offsets
    (and logs the call); ``failing_commits`` makes that many commits raise KafkaUnavailable.
    Without records it is only an OffsetCommitter."""

    def __init__(
        self, records: Sequence[Record] = (), log: list | None = None, *, failing_commits: int = 0
    ) -> None:
        self.log = log if log is not None else []
        self.partitions: dict[Partition, list[Record]] = {}
        for record in records:
            self.partitions.setdefault(record.source, []).append(record)
        self.positions = {p: rows[0].offset for p, rows in self.partitions.items()}
        self.commits: list[dict[Partition, int]] = []
        self.seeks: list[tuple[Partition, int]] = []
        self.failing_commits = failing_commits
        self.closed = False

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]:
        polled: list[Record] = []
        for partition, rows in sorted(self.partitions.items()):
            room = max_records - len(polled)
            ahead = [r for r in rows if r.offset >= self.positions[partition]][:room]
            if ahead:
                self.positions[partition] = ahead[-1].offset + 1
            polled += ahead
        self.log.append(("poll", len(polled)))
        return polled

    def assignment(self) -> set[Partition]:
        return set(self.partitions)

    def seek(self, partition: Partition, offset: int) -> None:
        self.log.append(("seek", partition, offset))
        self.seeks.append((partition, offset))
        self.positions[partition] = offset

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        self.log.append(("commit",))
        if self.failing_commits > 0:
            self.failing_commits -= 1
            raise KafkaUnavailable("the group rebalanced")
        self.commits.append(dict(offsets))

    def close(self) -> None:
        self.closed = True

    @property
    def committed(self) -> dict[Partition, int]:
        """The last committed offset per partition."""
        latest: dict[Partition, int] = {}
        for commit in self.commits:
            latest.update(commit)
        return latest


class LoggingEscalationSink(FakeEscalationSink):
    def __init__(self, log: list) -> None:
        super().__init__()
        self.log = log

    def submit(self, escalations: Sequence) -> None:
        self.log.append(("escalate", [row.message_id for row in escalations]))
        super().submit(escalations)

"""The commit protocol, written down in one place.

A batch's offsets are committed only after everything it produced is durable:

    1. message and prediction rows    (one database transaction; when the store refuses
                                       the batch, it is bisected down to the records it
                                       refuses, which become dead letters `store_rejected`,
                                       and the rest is written)
    2. label events and dead letters  (produced, then the producer is flushed and every
                                       send checked)
    3. escalations                    (the escalation sink: rows, then Celery tasks)
    4. offsets                        (committed synchronously)

Events come before escalations so that a message's provisional event is on the labels
topic before the LLM can be asked for its final one: the final event can then never
precede the provisional one (and it carries a higher `revision` besides).

A dead letter too large to re-send (the producer's max_request_size or the broker's
limit) is cut to fit and sent with reason `too_large`, its headers and the reference to
its source kept: a size error is permanent for that record, so neither it nor the batch's
label events are sent again.

A crash anywhere before step 4 redelivers the batch; every step is idempotent (rows are
upserts, events are at-least-once), so redelivery repeats work but never duplicates rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy import Engine

from sieve.core.errors import RecordTooLarge, StoreRejected
from sieve.core.settings import KafkaSettings
from sieve.store.repository import EscalationRecord, save_predictions
from sieve.workers.kafka_adapter import record_size_bytes
from sieve.workers.records import Header, OffsetCommitter, Partition, RecordProducer, SendResult
from sieve.workers.stream.batch import BatchOutcome, DeadLetter
from sieve.workers.stream.messages import DeadLetterReason

logger = logging.getLogger(__name__)


class EscalationSink(Protocol):
    """Where escalations go (implemented in ``sieve.workers.llm.escalation``)."""

    def submit(self, escalations: Sequence[EscalationRecord]) -> None:
        """Durably accept the batch's escalations before its offsets are committed."""


class Checkpoint:
    def __init__(
        self,
        *,
        engine: Engine,
        sink: EscalationSink,
        producer: RecordProducer,
        consumer: OffsetCommitter,
        topics: KafkaSettings,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self._engine = engine
        self._sink = sink
        self._producer = producer
        self._consumer = consumer
        self._topics = topics
        self._flush_timeout_s = flush_timeout_s

    def complete(self, outcome: BatchOutcome, next_offsets: Mapping[Partition, int]) -> None:
        """Make the batch durable, then commit ``next_offsets`` (the next offset to read).
        Records the store refuses move from ``outcome``'s rows to its dead letters."""
        self._save_rows(outcome)
        self._produce(outcome)
        if outcome.escalations:
            self._sink.submit(outcome.escalations)
        # A failed commit (KafkaUnavailable: the group rebalanced under us, say) is
        # transient: the new owner re-reads from the last commit, which only repeats
        # idempotent work.
        self._consumer.commit(next_offsets)

    def _save_rows(self, outcome: BatchOutcome) -> None:
        refused = self._save_narrowing(outcome, list(range(len(outcome.messages))))
        for index, detail in refused:
            record = outcome.records[index]
            logger.warning(
                "dead letter %s[%d]@%d: store refused it: %s",
                record.topic,
                record.partition,
                record.offset,
                detail,
            )
        outcome.drop({index: detail for index, detail in refused}, DeadLetterReason.STORE_REJECTED)

    def _save_narrowing(self, outcome: BatchOutcome, indices: list[int]) -> list[tuple[int, str]]:
        """Write the rows at ``indices``; when the store refuses them, bisect until each
        refused row stands alone. Returns (index, why) of the rows refused. Transient
        errors propagate: halves already written are upserted again on the retry."""
        if not indices:
            return []
        try:
            save_predictions(
                self._engine,
                [outcome.messages[i] for i in indices],
                [outcome.predictions[i] for i in indices],
            )
            return []
        except StoreRejected as exc:
            if len(indices) == 1:
                return [(indices[0], str(exc)[:_MAX_DETAIL_CHARS])]
        middle = len(indices) // 2
        return self._save_narrowing(outcome, indices[:middle]) + self._save_narrowing(
            outcome, indices[middle:]
        )

    def _produce(self, outcome: BatchOutcome) -> None:
        """Send the batch's events and dead letters, flush, check every send. The producer
        raises Sieve's errors: KafkaUnavailable fails the batch (transient); RecordTooLarge
        for an event too (a bug: events are small); for a dead letter see _confirm."""
        futures = [
            self._producer.send(
                self._topics.labels_topic, key=event.id.encode(), value=event.encode()
            )
            for event in outcome.events
        ]
        letters = [(letter, self._dead_letter(letter)) for letter in outcome.dead_letters]
        self._producer.flush(timeout_s=self._flush_timeout_s)
        for future in futures:
            future.get(timeout_s=0)
        for letter, sent in letters:
            self._confirm(letter, sent)

    def _confirm(self, letter: DeadLetter, sent: SendResult | None) -> None:
        """Check a dead letter's send. One refused for its size (by the producer, sent is
        None, or by the broker, whose limit can be lower) is sent again as headers only,
        instead of failing the batch and re-sending its events."""
        try:
            if sent is not None:
                sent.get(timeout_s=0)
                return
        except RecordTooLarge:
            pass  # sent again below, cut
        record = letter.record
        logger.warning(
            "dead letter %s[%d]@%d refused for its size: sending its headers only",
            record.topic,
            record.partition,
            record.offset,
        )
        size = len(record.value or b"")
        headers = _reference(letter, DeadLetterReason.TOO_LARGE, _cut_detail(letter, size, 0))
        future = self._producer.send(
            self._topics.dlq_topic, key=record.key, value=b"", headers=headers
        )
        self._producer.flush(timeout_s=self._flush_timeout_s)
        future.get(timeout_s=0)

    def _dead_letter(self, letter: DeadLetter) -> SendResult | None:
        """Send a dead letter: the original key, value and headers, behind Sieve's headers
        (reason, detail, source reference). A value too large for the producer's limit is
        cut to fit, with reason `too_large`. None when the producer still refuses it."""
        record = letter.record
        value = record.value
        original = list(record.headers or [])
        headers = _reference(letter, letter.reason, letter.detail) + original
        limit = self._topics.max_request_size_bytes
        if value is not None and record_size_bytes(record.key, value, headers) > limit:
            # Measure with the longest detail we will write, then cut the value to the room.
            detail = _cut_detail(letter, len(value), len(value))
            fixed = _reference(letter, DeadLetterReason.TOO_LARGE, detail) + original
            room = max(limit - record_size_bytes(record.key, b"", fixed) - _SIZE_MARGIN_BYTES, 0)
            value = value[:room]
            detail = _cut_detail(letter, len(record.value or b""), len(value))
            headers = _reference(letter, DeadLetterReason.TOO_LARGE, detail) + original
        try:
            return self._producer.send(
                self._topics.dlq_topic, key=record.key, value=value, headers=headers
            )
        except RecordTooLarge:
            return None


def _reference(letter: DeadLetter, reason: str, detail: str) -> list[Header]:
    record = letter.record
    return [
        ("sieve.reason", str(reason).encode()),
        ("sieve.detail", detail.encode()),
        ("sieve.source.topic", record.topic.encode()),
        ("sieve.source.partition", str(record.partition).encode()),
        ("sieve.source.offset", str(record.offset).encode()),
    ]


def _cut_detail(letter: DeadLetter, original_bytes: int, kept_bytes: int) -> str:
    """The detail of a cut dead letter: the first reason stays readable."""
    return (
        f"value cut from {original_bytes} to {kept_bytes} bytes to fit; "
        f"{letter.reason}: {letter.detail}"
    )


# A driver's message can quote the offending value: the header keeps its start only.
_MAX_DETAIL_CHARS = 500
# Varints in the record header grow with the value's length: a few bytes of slack.
_SIZE_MARGIN_BYTES = 64

"""The commit protocol, written down in one place.

A batch's offsets are committed only after everything it produced is durable:

    1. message and prediction rows    (one database transaction)
    2. escalations                    (the escalation sink)
    3. label events and dead letters  (produced, then the producer is flushed and every
                                       send checked)
    4. offsets                        (committed synchronously)

A crash anywhere before step 4 redelivers the batch; every step is idempotent (rows are
upserts, events are at-least-once), so redelivery repeats work but never duplicates rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Engine

from sieve.core.errors import TransientError
from sieve.core.settings import KafkaSettings
from sieve.store.repository import save_predictions
from sieve.workers.batch import BatchOutcome, DeadLetter
from sieve.workers.escalation import EscalationSink

logger = logging.getLogger(__name__)


class Checkpoint:
    def __init__(
        self,
        *,
        engine: Engine,
        sink: EscalationSink,
        producer: KafkaProducer,
        consumer: KafkaConsumer,
        topics: KafkaSettings,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self._engine = engine
        self._sink = sink
        self._producer = producer
        self._consumer = consumer
        self._topics = topics
        self._flush_timeout_s = flush_timeout_s

    def complete(self, outcome: BatchOutcome, next_offsets: Mapping[TopicPartition, int]) -> None:
        """Make the batch durable, then commit ``next_offsets`` (the next offset to read)."""
        save_predictions(self._engine, outcome.messages, outcome.predictions)
        if outcome.escalations:
            self._sink.submit(outcome.escalations)
        self._produce(outcome)
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in next_offsets.items()}
        try:
            self._consumer.commit(offsets)
        except KafkaError as exc:
            # The group rebalanced under us: the new owner re-reads from the last commit,
            # which only repeats idempotent work.
            raise TransientError(f"offset commit failed: {exc}") from exc

    def _produce(self, outcome: BatchOutcome) -> None:
        try:
            futures = [
                self._producer.send(
                    self._topics.labels_topic, key=event.id.encode(), value=event.encode()
                )
                for event in outcome.events
            ]
            futures += [self._dead_letter(letter) for letter in outcome.dead_letters]
            self._producer.flush(timeout=self._flush_timeout_s)
            for future in futures:
                future.get(timeout=0)
        except KafkaError as exc:
            raise TransientError(f"producing to Kafka failed: {exc}") from exc

    def _dead_letter(self, letter: DeadLetter) -> FutureRecordMetadata:
        record = letter.record
        headers = [
            ("sieve.reason", letter.reason.encode()),
            ("sieve.detail", letter.detail.encode()),
            ("sieve.source.topic", record.topic.encode()),
            ("sieve.source.partition", str(record.partition).encode()),
            ("sieve.source.offset", str(record.offset).encode()),
        ]
        headers += list(record.headers or [])
        return self._producer.send(
            self._topics.dlq_topic, key=record.key, value=record.value, headers=headers
        )

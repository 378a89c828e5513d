"""kafka-python clients built from KafkaSettings, so every process configures them alike."""

from __future__ import annotations

import logging
from collections.abc import Set

from kafka import (
    ConsumerRebalanceListener,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    TopicPartition,
)
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from sieve.core.errors import TransientError
from sieve.core.settings import KafkaSettings

logger = logging.getLogger(__name__)


def make_consumer(settings: KafkaSettings) -> KafkaConsumer:
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
        )
    except KafkaError as exc:
        raise TransientError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc
    consumer.subscribe([settings.input_topic], listener=_LogAssignment())
    return consumer


def make_producer(settings: KafkaSettings, *, linger_ms: int = 5) -> KafkaProducer:
    try:
        return KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.client_id}-producer",
            acks="all",
            linger_ms=linger_ms,
            retries=5,
            max_request_size=settings.max_request_size_bytes,
        )
    except KafkaError as exc:
        raise TransientError(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from exc


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

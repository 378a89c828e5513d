"""Wiring shared by the entry points: the store, the model registry, the stream worker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from sieve.core.errors import ConfigError
from sieve.core.settings import Settings
from sieve.models.registry import ModelRegistry
from sieve.store import migrate
from sieve.store.engine import make_engine
from sieve.workers.checkpoint import Checkpoint
from sieve.workers.escalation import EscalationSink, StoreEscalationSink
from sieve.workers.kafka_clients import ensure_topics, make_consumer, make_producer
from sieve.workers.model_watch import ActiveModel
from sieve.workers.stream import StreamWorker

logger = logging.getLogger(__name__)


def open_store(settings: Settings) -> Engine:
    """An engine on a migrated schema. The embedded SQLite file is migrated on the spot;
    a shared database must be migrated by `sieve migrate` (one process, not every worker)."""
    url = settings.database_url
    if make_url(url).get_backend_name() == "sqlite":
        migrate.upgrade(url)
    else:
        have, want = migrate.current(url), migrate.head()
        if have != want:
            raise ConfigError(
                f"database schema is at {have}, code expects {want}: run `sieve migrate`"
            )
    return make_engine(url, echo=settings.database.echo)


def open_registry(settings: Settings) -> ModelRegistry:
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    return ModelRegistry(settings.models_dir)


@contextmanager
def stream_worker(
    settings: Settings, engine: Engine, sink: EscalationSink | None = None
) -> Iterator[StreamWorker]:
    ensure_topics(settings.kafka)
    consumer = make_consumer(settings.kafka)
    producer = make_producer(settings.kafka)
    try:
        yield StreamWorker(
            consumer=consumer,
            checkpoint=Checkpoint(
                engine=engine,
                sink=sink or StoreEscalationSink(engine),
                producer=producer,
                consumer=consumer,
                topics=settings.kafka,
            ),
            model=ActiveModel(engine, check_interval_s=settings.models.reload_check_interval_s),
            kafka=settings.kafka,
            routing=settings.routing,
            limits=settings.stream,
        )
    finally:
        producer.close(timeout=10)
        consumer.close(autocommit=False)

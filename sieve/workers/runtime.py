"""Wiring shared by the entry points: the store, the model registry, the stream worker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from sieve.core.errors import ConfigError
from sieve.core.settings import Settings
from sieve.labeler.cache import AnswerCache, RedisAnswerCache
from sieve.labeler.client import LLMClient, LLMParams
from sieve.labeler.cost import DEFAULT_PRICES, parse_prices
from sieve.labeler.prompts import load_prompt
from sieve.models.registry import ModelRegistry
from sieve.store import migrate
from sieve.store.engine import make_engine
from sieve.workers.checkpoint import Checkpoint
from sieve.workers.coordination import Leases, RedisLeases, StoreAnswerCache, StoreLeases
from sieve.workers.escalation import (
    CeleryEscalationSink,
    EscalationSink,
    StoreEscalationSink,
)
from sieve.workers.kafka_clients import ensure_topics, make_consumer, make_producer
from sieve.workers.label_set import deployment_label_set
from sieve.workers.labeling import LabelingContext
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
    return ModelRegistry(settings.models_dir, cache_dir=settings.models.encoder_cache_dir)


def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis.url.get_secret_value())


def leases(settings: Settings, engine: Engine) -> Leases:
    """Enqueue markers and label locks: in Redis, or in the database without it."""
    if settings.uses_redis:
        return RedisLeases(redis_client(settings), settings.redis.key_prefix)
    return StoreLeases(engine)


def answer_cache(settings: Settings, engine: Engine) -> AnswerCache:
    ttl_s = settings.llm.cache_ttl_s
    if settings.uses_redis:
        prefix = f"{settings.redis.key_prefix}llm-cache:"
        return RedisAnswerCache(redis_client(settings), prefix, ttl_s=ttl_s)
    return StoreAnswerCache(engine, ttl_s=ttl_s)


def celery_sink(settings: Settings, engine: Engine) -> CeleryEscalationSink:
    return CeleryEscalationSink(
        engine,
        leases(settings, engine),
        prompt_version=load_prompt(settings.llm.prompt).version_id,
        queue=settings.celery.queue,
    )


def escalation_sink(settings: Settings, engine: Engine) -> EscalationSink:
    if settings.stream.escalation_sink == "store":
        return StoreEscalationSink(engine)
    return celery_sink(settings, engine)


def labeling_context(settings: Settings) -> LabelingContext:
    """Everything a Celery worker process needs to label escalations."""
    llm = settings.llm
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    return LabelingContext(
        engine=engine,
        producer=make_producer(settings.kafka),
        labels_topic=settings.kafka.labels_topic,
        client=LLMClient(
            base_url=llm.base_url,
            api_key=llm.api_key.get_secret_value(),
            model=llm.model,
            timeout_s=llm.timeout_s,
            params=LLMParams(
                temperature=llm.temperature,
                max_tokens=llm.max_tokens,
                json_mode=llm.json_mode,
                seed=llm.seed,
            ),
            corrective_retries=llm.corrective_retries,
        ),
        cache=answer_cache(settings, engine),
        leases=leases(settings, engine),
        prompt=load_prompt(llm.prompt),
        labels=deployment_label_set(settings.labels_file),
        prices={**DEFAULT_PRICES, **parse_prices(llm.prices_usd_per_1m)},
        lock_ttl_s=int(settings.celery.time_limit_s) + 30,
    )


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
                sink=sink or escalation_sink(settings, engine),
                producer=producer,
                consumer=consumer,
                topics=settings.kafka,
            ),
            model=ActiveModel(
                engine,
                check_interval_s=settings.models.reload_check_interval_s,
                labels=deployment_label_set(settings.labels_file),
            ),
            kafka=settings.kafka,
            routing=settings.routing,
            limits=settings.stream,
        )
    finally:
        producer.close(timeout=10)
        consumer.close(autocommit=False)

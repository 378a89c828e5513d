"""Wiring shared by the entry points: the store, the model registry, the stream worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError as DBInterfaceError
from sqlalchemy.exc import OperationalError

from sieve.core.errors import ConfigError, TransientError
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
from sieve.workers.error_policy import retry_transient
from sieve.workers.escalation import (
    CeleryEscalationSink,
    EscalationSink,
    StoreEscalationSink,
)
from sieve.workers.kafka_clients import ensure_topics, make_consumer, make_producer
from sieve.workers.label_set import check_active_model_labels, deployment_label_set
from sieve.workers.labeling import LabelingContext
from sieve.workers.model_watch import ActiveModel
from sieve.workers.stream import StreamWorker

logger = logging.getLogger(__name__)


def open_store(settings: Settings) -> Engine:
    """An engine on a migrated schema. The embedded SQLite file is migrated on the spot;
    a shared database must be migrated by `sieve migrate` (one process, not every worker)."""
    url = settings.database_url
    try:
        if make_url(url).get_backend_name() == "sqlite":
            migrate.upgrade(url)
        else:
            have, want = migrate.current(url), migrate.head()
            if have != want:
                raise ConfigError(
                    f"database schema is at {have}, code expects {want}: run `sieve migrate`"
                )
    except (OperationalError, DBInterfaceError) as exc:
        raise TransientError(f"database unavailable: {type(exc).__name__}") from exc
    return make_engine(url, echo=settings.database.echo)


def wait_for_store(settings: Settings, sleep: Callable[[float], None] = time.sleep) -> Engine:
    """open_store, retried for as long as the database is unreachable (a worker started
    during an outage waits for it instead of exiting)."""
    return retry_transient(lambda: open_store(settings), "the database", sleep=sleep)


def serving_store(settings: Settings, sleep: Callable[[float], None] = time.sleep) -> Engine:
    """What a serving process (stream or labeling worker) checks before it starts: the
    store, waited for during an outage, and the active model's labels against the
    deployment's label set (a mismatch is a one-line PermanentError, not a wait)."""
    engine = wait_for_store(settings, sleep)
    retry_transient(
        lambda: check_active_model_labels(engine, settings.labels_file),
        "the database",
        sleep=sleep,
    )
    return engine


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
    settings: Settings,
    engine: Engine,
    sink: EscalationSink | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[StreamWorker]:
    """The stream worker and its Kafka clients; waits for the broker if it is down."""
    broker = f"the Kafka broker at {settings.kafka.bootstrap_servers}"
    retry_transient(lambda: ensure_topics(settings.kafka), broker, sleep=sleep)
    consumer = retry_transient(lambda: make_consumer(settings.kafka), broker, sleep=sleep)
    producer = retry_transient(lambda: make_producer(settings.kafka), broker, sleep=sleep)
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
            sleep=sleep,
        )
    finally:
        producer.close(timeout=10)
        consumer.close(autocommit=False)

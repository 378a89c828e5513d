"""The one place the entry points (the CLI, the admin app, the demo, the benchmarks) build
Sieve's objects from Settings: the store, the model registry, the escalation sink, the
stream worker with its Kafka clients. A Celery worker process builds its own context with
``sieve.workers.llm.context``, re-exported here for the other entry points."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError as DBInterfaceError
from sqlalchemy.exc import OperationalError

from sieve.core.errors import ConfigError, TransientError
from sieve.core.settings import EscalationSinkKind, Settings
from sieve.models.registry import ArtefactInfo, open_registry
from sieve.routing.rules import NO_RULES, RuleSet
from sieve.routing.rules_file import load_rules
from sieve.store import migrate
from sieve.store.engine import make_engine
from sieve.store.versions import ModelVersionRecord, activate_model_version, register_model_version
from sieve.workers.error_policy import retry_transient
from sieve.workers.kafka_adapter import ensure_topics, make_consumer, make_producer
from sieve.workers.label_set import check_active_model_labels, deployment_label_set
from sieve.workers.llm.context import (
    answer_cache,
    budget,
    celery_sink,
    labeling_context,
    leases,
    llm_client,
    redis_client,
)
from sieve.workers.llm.escalation import StoreEscalationSink
from sieve.workers.stream.checkpoint import Checkpoint, EscalationSink
from sieve.workers.stream.loop import StreamWorker
from sieve.workers.stream.model_watch import ActiveModel

__all__ = [
    "answer_cache",
    "budget",
    "celery_sink",
    "escalation_sink",
    "labeling_context",
    "leases",
    "llm_client",
    "open_registry",
    "open_store",
    "redis_client",
    "register_trained",
    "routing_rules",
    "serving_store",
    "stream_worker",
    "wait_for_store",
]

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


def register_trained(
    settings: Settings, info: ArtefactInfo, *, activate: bool, reason: str
) -> None:
    """Record a trained artefact as a model version in the store, and activate it if asked."""
    engine = open_store(settings)
    try:
        register_model_version(
            engine,
            ModelVersionRecord(
                version=info.version,
                family=info.meta.get("family", settings.models.family),
                path=str(info.path.resolve()),
                data_hash=info.meta["data_hash"],
                metrics=info.meta.get("metrics", {}),
            ),
        )
        if activate:
            activate_model_version(engine, info.version, reason=reason)
    finally:
        engine.dispose()


def escalation_sink(settings: Settings, engine: Engine) -> EscalationSink:
    if settings.stream.escalation_sink == EscalationSinkKind.STORE:
        return StoreEscalationSink(engine)
    return celery_sink(settings, engine)


def routing_rules(settings: Settings, labels: list[str]) -> RuleSet:
    """The rules of SIEVE_ROUTING__RULES_FILE, checked against ``labels`` (ConfigError,
    one line, for a bad file); no rules when the setting is unset."""
    path = settings.routing.rules_file
    if path is None:
        return NO_RULES
    rules = load_rules(path, labels)
    logger.info("routing rules from %s: %s", path, ", ".join(r.name for r in rules.rules) or "none")
    return rules


@contextmanager
def stream_worker(
    settings: Settings,
    engine: Engine,
    sink: EscalationSink | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[StreamWorker]:
    """The stream worker and its Kafka clients; waits for the broker if it is down."""
    labels = deployment_label_set(settings.labels_file)
    rules = routing_rules(settings, labels)  # a bad rules file stops us before any client
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
                labels=labels,
            ),
            kafka=settings.kafka,
            routing=settings.routing,
            limits=settings.stream,
            rules=rules,
            drift=settings.drift,
            sleep=sleep,
        )
    finally:
        producer.close(timeout_s=10)
        consumer.close()

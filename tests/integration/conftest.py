"""Fixtures over real services: the embedded Kafka-protocol broker, PostgreSQL, trained models."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr

from sieve.core.settings import KafkaSettings, Settings
from sieve.demo.broker import EmbeddedBroker
from sieve.labeler.sim.simulator import load_teacher
from sieve.models.families.ngram.training import TrainConfig, train_from_file
from sieve.models.registry import ArtefactInfo, ModelRegistry
from sieve.store.engine import make_engine
from sieve.store.versions import ModelVersionRecord, activate_model_version, register_model_version
from sieve.workers.kafka_adapter import ensure_topics
from tests.conftest import BANKING77

# Test-friendly group timeouts: a join against Tansu takes about half the session timeout.
FAST_GROUP = {"session_timeout_ms": 6_000, "heartbeat_interval_ms": 1_000, "poll_timeout_ms": 5_000}


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def kafka_settings(broker: EmbeddedBroker) -> KafkaSettings:
    """Fresh topics and consumer group for one test."""
    run = uuid.uuid4().hex[:10]
    return KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        input_topic=f"feedback-{run}",
        labels_topic=f"feedback-{run}.labels",
        dlq_topic=f"feedback-{run}.dlq",
        group_id=f"sieve-{run}",
        **FAST_GROUP,
    )


@pytest.fixture
def settings(kafka_settings: KafkaSettings, postgres_url: str, tmp_path: Path) -> Settings:
    from sieve.store.migrate import upgrade

    upgrade(postgres_url)
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        kafka=kafka_settings,
        database={"url": postgres_url},
        # Escalations are recorded, not enqueued: tests of the task path set their own
        # Redis prefix and queue, and nothing lands in a shared queue.
        stream={"escalation_sink": "store"},
        # The loop's tests pin the n-gram student: seconds to train, and the figures they
        # assert were measured with it. The default (minilm) has its own tests:
        # test_minilm_training.py, and test_demo_label_set.py runs the demo on it.
        models={"family": "ngram"},
    )


@pytest.fixture(scope="session")
def model_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], ArtefactInfo]:
    """Train (once per seed and session) a Banking77 model with a short schedule."""
    registry = ModelRegistry(tmp_path_factory.mktemp("models"))
    trained: dict[int, ArtefactInfo] = {}

    def make(seed: int = 0) -> ArtefactInfo:
        if seed not in trained:
            trained[seed], _ = train_from_file(
                BANKING77 / "train.jsonl", registry, eval_path=None, config=TrainConfig(seed=seed)
            )
        return trained[seed]

    return make


@pytest.fixture(scope="session")
def minilm_artefact(
    tmp_path_factory: pytest.TempPathFactory, encoder_cache_dir: Path
) -> ArtefactInfo:
    """A minilm model on 400 Banking77 training texts, trained once per session."""
    from sieve.core.dataset import read_label_set, read_labeled_jsonl
    from sieve.models.families import get_family

    registry = ModelRegistry(tmp_path_factory.mktemp("minilm-models"), cache_dir=encoder_cache_dir)
    rows = read_labeled_jsonl(BANKING77 / "train.jsonl")[::25]
    student = get_family("minilm").train(
        [r.text for r in rows],
        [r.label for r in rows],
        read_label_set(BANKING77 / "labels.txt"),
        registry.train_options(seed=0, epochs=None, num_threads=2),
    )
    return registry.save(student, data_hash="h", metrics={})


def activate(database_url: str, info: ArtefactInfo, reason: str = "test") -> None:
    engine = make_engine(database_url)
    try:
        register_model_version(
            engine,
            ModelVersionRecord(
                info.version, info.meta["family"], str(info.path), info.meta["data_hash"], {}
            ),
        )
        activate_model_version(engine, info.version, reason=reason)
    finally:
        engine.dispose()


def read_topic(kafka: KafkaSettings, topic: str) -> list:
    """Every record of a one-partition topic, from the beginning to its current end."""
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        records: list = []
        while consumer.position(tp) < end:
            for batch in consumer.poll(timeout_ms=2_000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close(autocommit=False)


def stream_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `sieve stream` subprocess run on ``settings``: this process's
    environment, the store, the topics and the test-friendly group timings; ``extra``:
    more settings, named without the SIEVE_ prefix (``KAFKA__MAX_BATCH_SIZE="25"``)."""
    kafka = settings.kafka
    return {
        **os.environ,
        "SIEVE_DATABASE__URL": settings.database_url,
        "SIEVE_STREAM__ESCALATION_SINK": "store",
        "SIEVE_DATA_DIR": str(settings.data_dir),
        "SIEVE_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SIEVE_KAFKA__INPUT_TOPIC": kafka.input_topic,
        "SIEVE_KAFKA__LABELS_TOPIC": kafka.labels_topic,
        "SIEVE_KAFKA__DLQ_TOPIC": kafka.dlq_topic,
        "SIEVE_KAFKA__GROUP_ID": kafka.group_id,
        "SIEVE_KAFKA__SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
        "SIEVE_KAFKA__HEARTBEAT_INTERVAL_MS": str(kafka.heartbeat_interval_ms),
        "SIEVE_KAFKA__POLL_TIMEOUT_MS": str(kafka.poll_timeout_ms),
        **{f"SIEVE_{name}": value for name, value in extra.items()},
    }


@pytest.fixture
def queue_settings(store_url: str, redis_prefix: str, tmp_path: Path) -> Settings:
    """Tasks go to a queue of their own in the real Redis (deleted with the prefix)."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        database={"url": store_url},
        redis={"key_prefix": redis_prefix},
        celery={"queue": f"{redis_prefix}tasks"},
    )


@pytest.fixture(scope="module")
def teacher():
    """The simulator's teacher: Banking77's test set, 90% accurate."""
    return load_teacher([BANKING77 / "test.jsonl"], accuracy=0.9, noise="uniform", seed=0)


@pytest.fixture(params=["redis", "store"])
def llm_settings(request, settings, redis_prefix) -> Settings:
    """Leases and answer cache in Redis, or (a SQL broker URL) in the database."""
    ensure_topics(settings.kafka)
    celery: dict[str, object] = {"queue": f"{redis_prefix}tasks"}
    if request.param == "store":
        celery["broker_url"] = SecretStr(settings.database_url)
    updated = settings.model_copy(
        update={
            "labels_file": BANKING77 / "labels.txt",
            "redis": settings.redis.model_copy(update={"key_prefix": redis_prefix}),
            "celery": settings.celery.model_copy(update=celery),
        }
    )
    assert updated.uses_redis is (request.param == "redis")
    return updated

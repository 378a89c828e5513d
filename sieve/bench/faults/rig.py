"""The real services one fault scenario runs on (``Rig``), over what every scenario
shares (``Suite``, suite.py). A rig is one scenario's world: a fresh database with the
student active, fresh topics and consumer group, a Redis key prefix and Celery queue of its
own, and the `sieve stream`, `sieve worker` and `sieve beat` subprocesses it starts (all
stopped, the database dropped and the Redis keys deleted when it closes). Routing escalates
a known share (Suite.threshold); the margin, exploration and unseen rules are off.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import psycopg
import redis
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from sieve.bench.faults.suite import Suite
from sieve.core.settings import KafkaSettings
from sieve.demo.processes import CliProcess
from sieve.models.registry import ArtefactInfo
from sieve.store import tally
from sieve.store.engine import make_engine
from sieve.store.migrate import upgrade
from sieve.store.tally import Tally
from sieve.store.versions import ModelVersionRecord, activate_model_version, register_model_version
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.stream.produce import produce_lines

REDIS_URL = "redis://127.0.0.1:6379/0"


class Rig:
    """One scenario's services; ``database_url``: a database made for it elsewhere (the
    outage scenario's own cluster), else a fresh one on the suite's server."""

    def __init__(
        self,
        suite: Suite,
        name: str,
        messages: int,
        *,
        database_url: str | None = None,
        partitions: int = 1,
    ) -> None:
        self.suite = suite
        self.name = name
        self.messages = messages
        run = uuid.uuid4().hex[:10]
        self.prefix = f"sieve-faults-{run}:"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=suite.work_dir))
        self._own_database = f"sieve_faults_{run}" if database_url is None else None
        if self._own_database is not None:
            with psycopg.connect(suite.postgres_dsn, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self._own_database}"')
            database_url = _sqlalchemy_url(suite.postgres_dsn, self._own_database)
        assert database_url is not None
        self.database_url = database_url
        self.ids = [f"{name}-{i}" for i in range(messages)]
        self._processes: list[CliProcess] = []
        self.kafka = KafkaSettings(
            bootstrap_servers=suite.broker.bootstrap_servers,
            input_topic=f"faults-{run}",
            labels_topic=f"faults-{run}.labels",
            dlq_topic=f"faults-{run}.dlq",
            group_id=f"sieve-faults-{run}",
        )
        try:
            upgrade(database_url)
            self.engine: Engine = make_engine(database_url)
            self._activate(suite.model)
            ensure_topics(self.kafka, partitions=partitions)
        except BaseException:
            self._drop_database()
            raise

    def env(self, llm_url: str, **extra: str) -> dict[str, str]:
        """The subprocesses' settings; ``extra``: more, named without SIEVE_."""
        kafka = self.kafka
        settings = {
            "DATA_DIR": str(self.dir),
            "LABELS_FILE": str(self.suite.data_dir / "labels.txt"),
            "DATABASE__URL": self.database_url,
            "KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "KAFKA__INPUT_TOPIC": kafka.input_topic,
            "KAFKA__LABELS_TOPIC": kafka.labels_topic,
            "KAFKA__DLQ_TOPIC": kafka.dlq_topic,
            "KAFKA__GROUP_ID": kafka.group_id,
            # Test-friendly group timings: a join against Tansu takes half the session.
            "KAFKA__SESSION_TIMEOUT_MS": "6000",
            "KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
            "KAFKA__POLL_TIMEOUT_MS": "5000",
            "KAFKA__MAX_BATCH_SIZE": "50",  # many small commits: a kill lands between two
            "ROUTING__MIN_CONFIDENCE": repr(self.suite.threshold(self.messages)),
            "ROUTING__MIN_MARGIN": "0",
            "ROUTING__EXPLORATION_RATE": "0",
            "ROUTING__UNSEEN_QUANTILE": "0",
            "REDIS__URL": REDIS_URL,
            "REDIS__KEY_PREFIX": self.prefix,
            "CELERY__QUEUE": f"{self.prefix}tasks",
            "CELERY__CONCURRENCY": "1",
            "CELERY__SOFT_TIME_LIMIT_S": "8",
            "CELERY__TIME_LIMIT_S": "10",
            "CELERY__VISIBILITY_TIMEOUT_S": "60",
            # The beat drains every 10 s: escalations left `pending` by a killed stream
            # worker, and tasks lost with a killed Celery worker (after 30 s).
            "CELERY__DRAIN_AFTER_S": "5",
            "CELERY__REQUEUE_ENQUEUED_AFTER_S": "30",
            "CELERY__METRICS_PORT": "0",
            "STREAM__METRICS_PORT": "0",
            "LLM__BASE_URL": llm_url,
            "LLM__MODEL": "teacher-sim",
            "LLM__TIMEOUT_S": "5",
            "LLM__RETRY_BASE_S": "0.5",
            "LLM__RETRY_CAP_S": "4",
            # Outages are ridden out, not turned into `failed` rows.
            "LLM__MAX_ATTEMPTS": "200",
            **extra,
        }
        return {**os.environ, **{f"SIEVE_{name}": value for name, value in settings.items()}}

    def start(self, env: dict[str, str], *args: str) -> CliProcess:
        """`sieve <args>` with its log in the scenario's folder; stopped at close."""
        log = self.dir / f"{args[0]}-{len(self._processes)}.log"
        process = CliProcess(env, *args, log=log)
        self._processes.append(process)
        return process

    def log_lines(self, command: str, text: str) -> int:
        """Lines containing ``text`` in the logs of every `sieve <command>` started."""
        return sum(
            line.count(text) > 0
            for log in self.dir.glob(f"{command}-*.log")
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        )

    def tally(self) -> Tally:
        return tally.take(self.engine)

    def predicted(self) -> int:
        return _or_zero(lambda: tally.predicted(self.engine))

    def answered(self) -> int:
        return _or_zero(lambda: tally.answered(self.engine))

    def settled(self, produced: int | None = None) -> bool:
        """Every message produced so far (default: all) predicted, every escalation
        answered (ok or failed)."""
        try:
            return self.tally().settled(self.messages if produced is None else produced)
        except OperationalError:
            return False  # the store is down: not settled yet

    def line(self, index: int) -> bytes:
        """Message ``index`` as produced: its id and a stream text (cycled)."""
        texts = self.suite.texts
        return json.dumps({"id": self.ids[index], "text": texts[index % len(texts)]}).encode()

    def produce(self, start: int, end: int) -> None:
        lines = [self.line(i) for i in range(start, end)]
        producer = make_producer(self.kafka)
        try:
            produce_lines(producer, self.kafka.input_topic, lines)
        finally:
            producer.close()

    def close(self) -> None:
        for process in self._processes:
            process.stop(grace_s=15)
        self.engine.dispose()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{self.prefix}*", count=1_000))
        if keys:
            client.delete(*keys)
        client.close()
        self._drop_database()

    def _drop_database(self) -> None:
        if self._own_database is not None:
            with psycopg.connect(self.suite.postgres_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._own_database}" WITH (FORCE)')

    def _activate(self, info: ArtefactInfo) -> None:
        meta = info.meta
        record = ModelVersionRecord(
            info.version, meta["family"], str(info.path), meta["data_hash"], {}
        )
        register_model_version(self.engine, record)
        activate_model_version(self.engine, info.version, reason=f"fault scenario {self.name}")

    def __enter__(self) -> Rig:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True


def _or_zero(count: Callable[[], int]) -> int:
    try:
        return count()
    except OperationalError:
        return 0  # the store is down


def _sqlalchemy_url(dsn: str, database: str) -> str:
    """``host=H port=P user=U dbname=...`` → a SQLAlchemy URL for ``database`` there."""
    parts = dict(item.split("=", 1) for item in dsn.split())
    host, port, user = parts.get("host", "127.0.0.1"), parts.get("port", "5432"), parts["user"]
    return f"postgresql+psycopg://{user}@{host}:{port}/{database}"

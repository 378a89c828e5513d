"""Finding 3: a database outage, at start-up or between batches, is waited out."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from sieve.store.engine import make_engine
from sieve.store.migrate import upgrade
from sieve.store.tables import predictions
from sieve.wiring import stream_worker, wait_for_store
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.stream.produce import produce_lines

PG = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


class Outage:
    """A database that is down until ``restore`` (called from the worker's back-off sleep
    after ``sleeps_down`` waits): a PostgreSQL database not created yet, or an SQLite
    path held by a folder, which SQLite cannot open."""

    def __init__(self, backend: str, tmp_path, sleeps_down: int = 2) -> None:
        self.backend = backend
        self.sleeps: list[float] = []
        self._sleeps_down = sleeps_down
        if backend == "sqlite":
            self._path = tmp_path / "sieve.db"
            self._path.mkdir()
            self.url = f"sqlite:///{self._path}"
        else:
            self._name = f"sieve_test_{uuid.uuid4().hex[:12]}"
            self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self._name}"

    def sleep(self, delay_s: float) -> None:
        self.sleeps.append(delay_s)
        if len(self.sleeps) == self._sleeps_down:
            self.restore()

    def restore(self) -> None:
        if self.backend == "sqlite":
            self._path.rmdir()
        else:
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self._name}"')
        upgrade(self.url)

    def drop(self) -> None:
        if self.backend == "postgresql":
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def outage(request, tmp_path):
    down = Outage(request.param, tmp_path)
    yield down
    down.drop()


def _settings(settings, url: str):
    database = settings.database.model_copy(update={"url": SecretStr(url)})
    return settings.model_copy(update={"database": database})


def test_worker_started_during_an_outage_waits_for_the_database(settings, outage, caplog):
    engine = wait_for_store(_settings(settings, outage.url), sleep=outage.sleep)
    assert len(outage.sleeps) == 2  # two waits, then the database was back
    assert caplog.text.count("waiting for the database") == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(predictions)).scalar_one() == 0
    engine.dispose()


def test_outage_before_a_batch_is_retried_not_fatal(settings, outage, caplog):
    """The model check before each batch (active_model_version) raised OperationalError
    outside the transient handling and killed the worker."""
    lines = [json.dumps({"id": f"o{i}", "text": f"card {i}"}).encode() for i in range(30)]
    ensure_topics(settings.kafka)
    producer = make_producer(settings.kafka)
    produce_lines(producer, settings.kafka.input_topic, lines)
    producer.close()
    engine = make_engine(outage.url)  # the database is down: nothing answers yet
    with stream_worker(_settings(settings, outage.url), engine, sleep=outage.sleep) as worker:
        stats = worker.run(max_messages=30, idle_timeout_s=30)
    assert stats.consumed == 30 and stats.retries == 2
    assert outage.sleeps == [1.0, 2.0]
    assert caplog.text.count("waiting for the store") == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(predictions)).scalar_one() == 30
    engine.dispose()

"""Shared fixtures. Real services are used wherever they run; with CI set, a missing
service fails the run instead of skipping it."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parents[1]
BANKING77 = ROOT / "data" / "banking77"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: services are required)")
    pytest.skip(message)


@pytest.fixture
def banking77() -> Path:
    return BANKING77


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sieve.db'}"


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    """An engine on a freshly migrated SQLite file."""
    from sieve.store.engine import make_engine
    from sieve.store.migrate import upgrade

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated-on-demand PostgreSQL database for one test, dropped afterwards."""
    host = os.environ.get("SIEVE_TEST_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("SIEVE_TEST_PG_PORT", "5432"))
    user = os.environ.get("SIEVE_TEST_PG_USER", "postgres")
    require_service("PostgreSQL", host, port)
    import psycopg

    name = f"sieve_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={host} port={port} user={user} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database on each back end the store supports."""
    from sieve.store.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sieve.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    return url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix in the real Redis; its keys are deleted afterwards."""
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    prefix = f"sieve-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session", autouse=True)
def shared_encoder_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder for the int8 MiniLM encoder (exported on first use, ~30 s) and its
    embedding cache, for the whole session and every process a test starts (through
    SIEVE_MODELS__ENCODER_CACHE_DIR). SIEVE_TEST_ENCODER_CACHE names a folder to reuse
    across sessions."""
    override = os.environ.get("SIEVE_TEST_ENCODER_CACHE")
    path = Path(override) if override else tmp_path_factory.mktemp("encoders")
    saved = os.environ.get("SIEVE_MODELS__ENCODER_CACHE_DIR")
    os.environ["SIEVE_MODELS__ENCODER_CACHE_DIR"] = str(path)
    yield path
    if saved is None:
        os.environ.pop("SIEVE_MODELS__ENCODER_CACHE_DIR", None)
    else:
        os.environ["SIEVE_MODELS__ENCODER_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def encoder_cache_dir(shared_encoder_folder: Path) -> Path:
    """The shared folder with the encoder exported."""
    from sieve.models.families.minilm.encoder import cached_encoder

    cached_encoder(shared_encoder_folder)
    return shared_encoder_folder

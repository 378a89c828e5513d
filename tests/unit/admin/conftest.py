"""The admin app on a migrated SQLite file, with a FakeRetrainer and a FakeBacklogSink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sieve.admin.app import create_app
from sieve.core.settings import Settings
from tests.fakes import FakeBacklogSink
from tests.unit.admin.fakes import FakeRetrainer

TOKEN = "admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def retrainer() -> FakeRetrainer:
    return FakeRetrainer()


@pytest.fixture
def backlog_sink() -> FakeBacklogSink:
    return FakeBacklogSink()


@pytest.fixture
def make_client(
    engine: Engine, retrainer: FakeRetrainer, backlog_sink: FakeBacklogSink, tmp_path: Path
) -> Iterator[ClientFactory]:
    """make_client(token=..., **admin): a TestClient on an app whose admin token is
    ``token``; ``admin`` sets other AdminSettings fields (the body bounds)."""
    clients: list[TestClient] = []

    def make(token: str | None = TOKEN, *, on: Engine | None = None, **admin: Any) -> TestClient:
        settings = Settings(_env_file=None, data_dir=tmp_path, admin={"token": token, **admin})
        client = TestClient(create_app(settings, on or engine, retrainer, backlog_sink))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()

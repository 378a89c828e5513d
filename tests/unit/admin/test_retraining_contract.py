"""The admin app with its default retrainer, sieve.workers.distill.retrain, on SQLite: what the
fake stands in for must fit the routes (run rows, promotion, rollback). POST /retrain is
left out: it enqueues a Celery task, which needs the broker (tests/integration)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sieve.admin.app import create_app
from sieve.core.settings import Settings
from sieve.store.versions import active_model_version
from tests.unit.admin.conftest import AUTH, TOKEN
from tests.unit.admin.store_rows import NOW, add_version

pytest.importorskip("sieve.workers.distill.retrain")


@pytest.fixture
def real_client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, data_dir=tmp_path, admin={"token": TOKEN})
    with TestClient(create_app(settings, engine)) as client:
        yield client


def test_a_stored_run_is_served(real_client: TestClient, engine: Engine) -> None:
    from sieve.store.training import RunTrigger, create_run

    run_id = create_run(engine, trigger=RunTrigger.CLI)

    response = real_client.get(f"/runs/{run_id}")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["trigger"]) == (run_id, "queued", "cli")
    assert body["created_at"] is not None
    assert real_client.get("/runs/not-a-run").status_code == 404


def test_promote_then_rollback(real_client: TestClient, engine: Engine) -> None:
    add_version(engine, "v1", NOW - timedelta(hours=1))
    add_version(engine, "v2", NOW)

    # Nothing active yet, then only v1 ever active: no rollback either time.
    assert real_client.post("/models/v1/rollback", headers=AUTH).status_code == 409
    assert real_client.post("/models/v1/promote", headers=AUTH).status_code == 200
    assert real_client.post("/models/v1/rollback", headers=AUTH).status_code == 409
    assert real_client.post("/models/v2/promote", headers=AUTH).status_code == 200
    assert real_client.post("/models/v9/promote", headers=AUTH).status_code == 404

    response = real_client.post("/models/v2/rollback", headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {"active_version": "v1", "previous_version": "v2"}
    assert active_model_version(engine) == "v1"

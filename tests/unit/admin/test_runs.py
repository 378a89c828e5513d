"""POST /retrain and GET /runs/{id}."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sieve.core.errors import TransientError
from tests.unit.admin.conftest import AUTH
from tests.unit.admin.fakes import FakeRetrainer


def test_retrain_answers_202_with_the_run_id(
    client: TestClient, retrainer: FakeRetrainer, engine: Engine
) -> None:
    response = client.post("/retrain", headers=AUTH)

    assert response.status_code == 202
    body = response.json()
    assert body["run_id"] == "run-1"
    assert body["status_url"] == "/runs/run-1"
    assert response.headers["Location"] == "/runs/run-1"
    _settings, used_engine, trigger = retrainer.requests[0]
    assert used_engine is engine
    assert trigger == "admin"


def test_retrain_while_a_run_is_queued_returns_that_run(
    client: TestClient, retrainer: FakeRetrainer
) -> None:
    first = client.post("/retrain", headers=AUTH).json()["run_id"]
    second = client.post("/retrain", headers=AUTH).json()["run_id"]

    assert second == first
    assert len(retrainer.runs) == 1


def test_retrain_with_the_broker_down_answers_503(
    client: TestClient, retrainer: FakeRetrainer
) -> None:
    retrainer.fail_with = TransientError("task broker unavailable")

    response = client.post("/retrain", headers=AUTH)

    assert response.status_code == 503
    assert "task broker unavailable" in response.json()["detail"]
    assert "Retry-After" in response.headers


def test_get_run_reports_its_status(client: TestClient, retrainer: FakeRetrainer) -> None:
    run_id = client.post("/retrain", headers=AUTH).json()["run_id"]
    retrainer.runs[run_id].update(
        status="succeeded", model_version="v2", metrics={"macro_f1": 0.8}, promoted=True
    )

    response = client.get(f"/runs/{run_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == run_id
    assert body["status"] == "succeeded"
    assert body["trigger"] == "admin"
    assert body["model_version"] == "v2"
    assert body["metrics"] == {"macro_f1": 0.8}
    assert body["promoted"] is True
    assert body["finished_at"] is None


def test_get_unknown_run_answers_404(client: TestClient) -> None:
    response = client.get("/runs/no-such-run")

    assert response.status_code == 404
    assert "no-such-run" in response.json()["detail"]

"""GET /models, POST /models/{version}/promote and /rollback."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sieve.store.versions import activate_model_version, active_model_version
from tests.unit.admin.conftest import AUTH
from tests.unit.admin.fakes import FakeRetrainer
from tests.unit.admin.store_rows import NOW, add_version


def _three_versions(engine: Engine) -> None:
    add_version(engine, "v1", NOW - timedelta(hours=2), macro_f1=0.70)
    add_version(engine, "v2", NOW - timedelta(hours=1), macro_f1=0.75)
    add_version(engine, "v3", NOW, macro_f1=0.72)


def test_models_empty_store(client: TestClient) -> None:
    assert client.get("/models").json() == {"active_version": None, "models": []}


def test_models_newest_first_with_the_active_flag(client: TestClient, engine: Engine) -> None:
    _three_versions(engine)
    activate_model_version(engine, "v2", reason="test")

    body = client.get("/models").json()

    assert [model["version"] for model in body["models"]] == ["v3", "v2", "v1"]
    assert [model["active"] for model in body["models"]] == [False, True, False]
    assert body["active_version"] == "v2"
    assert body["models"][1]["metrics"] == {"macro_f1": 0.75}
    assert body["models"][1]["status"] == "active"
    assert body["models"][0]["status"] == "registered"


def test_promote_activates_the_version(
    client: TestClient, engine: Engine, retrainer: FakeRetrainer
) -> None:
    _three_versions(engine)
    activate_model_version(engine, "v2", reason="test")

    response = client.post("/models/v3/promote", headers=AUTH, json={"reason": "looks better"})

    assert response.status_code == 200
    assert response.json() == {"active_version": "v3", "previous_version": "v2"}
    assert active_model_version(engine) == "v3"
    assert retrainer.promotions == [("v3", "looks better")]


def test_promote_without_a_body_records_a_default_reason(
    client: TestClient, engine: Engine, retrainer: FakeRetrainer
) -> None:
    _three_versions(engine)

    assert client.post("/models/v1/promote", headers=AUTH).status_code == 200
    assert retrainer.promotions == [("v1", "promoted from the admin API")]


def test_promote_unknown_version_answers_404(client: TestClient, engine: Engine) -> None:
    _three_versions(engine)

    response = client.post("/models/v9/promote", headers=AUTH)

    assert response.status_code == 404
    assert "v9" in response.json()["detail"]
    assert active_model_version(engine) is None


def test_rollback_restores_the_previous_version(client: TestClient, engine: Engine) -> None:
    _three_versions(engine)
    activate_model_version(engine, "v1", reason="test")
    activate_model_version(engine, "v2", reason="test")

    response = client.post("/models/v2/rollback", headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {"active_version": "v1", "previous_version": "v2"}
    assert active_model_version(engine) == "v1"


def test_rollback_of_a_version_that_is_not_active_answers_409(
    client: TestClient, engine: Engine
) -> None:
    _three_versions(engine)
    activate_model_version(engine, "v1", reason="test")
    activate_model_version(engine, "v2", reason="test")

    response = client.post("/models/v1/rollback", headers=AUTH)

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "not the active version" in detail
    assert "'v2'" in detail
    assert active_model_version(engine) == "v2"


def test_rollback_with_nothing_before_answers_409(client: TestClient, engine: Engine) -> None:
    _three_versions(engine)
    activate_model_version(engine, "v1", reason="test")

    response = client.post("/models/v1/rollback", headers=AUTH)

    assert response.status_code == 409
    assert "nothing to roll back to" in response.json()["detail"]
    assert active_model_version(engine) == "v1"


def test_rollback_unknown_version_answers_404(client: TestClient, engine: Engine) -> None:
    _three_versions(engine)
    activate_model_version(engine, "v1", reason="test")

    assert client.post("/models/v9/rollback", headers=AUTH).status_code == 404

"""State-changing endpoints need the configured bearer token; reads do not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sieve.admin.app import create_app
from sieve.core.settings import Settings
from tests.fakes import FakeBacklogSink
from tests.unit.admin.conftest import AUTH, TOKEN, ClientFactory
from tests.unit.admin.fakes import FakeRetrainer
from tests.unit.admin.store_rows import NOW, add_version

GUARDED = ["/retrain", "/models/v1/promote", "/models/v1/rollback", "/label-jobs"]


def _assert_401(client: TestClient, path: str, headers: dict[str, str], detail_part: str) -> None:
    response = client.post(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert detail_part in response.json()["detail"]


@pytest.mark.parametrize("path", GUARDED)
@pytest.mark.parametrize(
    ("headers", "detail_part"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Bearer wrong-token"}, "invalid bearer token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "invalid bearer token"),
        ({"Authorization": f"Basic {TOKEN}"}, "missing bearer token"),
    ],
    ids=["no-header", "wrong", "longer", "basic-scheme"],
)
def test_guarded_endpoint_refuses_without_the_right_token(
    client: TestClient,
    retrainer: FakeRetrainer,
    backlog_sink: FakeBacklogSink,
    path: str,
    headers: dict[str, str],
    detail_part: str,
) -> None:
    _assert_401(client, path, headers, detail_part)
    assert retrainer.requests == []
    assert retrainer.promotions == []
    assert retrainer.rollbacks == 0
    assert backlog_sink.calls == []


@pytest.mark.parametrize("configured", [None, ""], ids=["unset", "empty"])
@pytest.mark.parametrize("path", GUARDED)
def test_no_configured_token_refuses_every_change(
    make_client: ClientFactory,
    retrainer: FakeRetrainer,
    backlog_sink: FakeBacklogSink,
    configured: str | None,
    path: str,
) -> None:
    client = make_client(configured)
    for headers in ({}, {"Authorization": "Bearer "}, AUTH):
        _assert_401(client, path, headers, "no admin token is configured")
    assert (retrainer.requests, retrainer.promotions, retrainer.rollbacks) == ([], [], 0)
    assert backlog_sink.calls == []


def test_right_token_is_accepted(client: TestClient, retrainer: FakeRetrainer) -> None:
    response = client.post("/retrain", headers=AUTH)

    assert response.status_code == 202
    assert len(retrainer.requests) == 1


def test_reads_need_no_token(client: TestClient, engine: Engine) -> None:
    add_version(engine, "v1", NOW)

    assert client.get("/models").status_code == 200
    assert client.get("/stats").status_code == 200
    assert client.get("/runs/unknown").status_code == 404
    assert client.get("/healthz").status_code == 200


def test_secrets_never_reach_the_log(
    engine: Engine,
    retrainer: FakeRetrainer,
    backlog_sink: FakeBacklogSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api_key = "sk-unit-secret-3b9f"
    settings = Settings(
        _env_file=None, data_dir=tmp_path, admin={"token": TOKEN}, llm={"api_key": api_key}
    )
    add_version(engine, "v1", NOW)
    ndjson = {**AUTH, "Content-Type": "application/x-ndjson"}
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(settings, engine, retrainer, backlog_sink)) as client:
        statuses = [
            client.post("/retrain", headers=AUTH).status_code,
            client.post("/retrain", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code,
            client.post("/models/v1/promote", headers=AUTH, json={"reason": "r"}).status_code,
            client.post(
                "/label-jobs", headers=ndjson, content='{"id": "a", "text": "t"}\n'
            ).status_code,
            client.post("/label-jobs", headers=ndjson, content="{oops\n").status_code,
        ]

    assert statuses == [202, 401, 200, 202, 422]
    assert "label job from the admin API" in caplog.text  # the routes did log
    assert TOKEN not in caplog.text
    assert api_key not in caplog.text

"""What the admin API refuses before reading a body: a missing token (401) on every
state-changing route, a body over its route's bound (413), a path no version can have (404)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.fakes import FakeBacklogSink
from tests.unit.admin.asgi_calls import call
from tests.unit.admin.conftest import AUTH, ClientFactory
from tests.unit.admin.fakes import FakeRetrainer
from tests.unit.admin.store_rows import NOW, add_version

KNOWN_CHANGES = {
    "/retrain",
    "/models/{version}/promote",
    "/models/{version}/rollback",
    "/label-jobs",
}
READS = {"GET", "HEAD", "OPTIONS"}


def _repeated(chunk: bytes, times: int = 64) -> Iterator[bytes]:
    """Finite, so that a guard that fails reads it all and the test fails instead of hanging."""
    for _ in range(times):
        yield chunk


def _state_changing(client: TestClient) -> list[tuple[str, str]]:
    """(method, path with its parameters filled) of every route that is not a read; the
    routers included in the app are walked through (FastAPI keeps them nested)."""
    found = []
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        if route.path is not None and route.methods is not None:
            for method in sorted(route.methods - READS):
                found.append((method, route.path.replace("{version}", "v1")))
    return found


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}],
    ids=["none", "wrong", "basic"],
)
def test_every_state_changing_route_refuses_without_the_token_before_reading_the_body(
    client: TestClient,
    retrainer: FakeRetrainer,
    backlog_sink: FakeBacklogSink,
    headers: dict[str, str],
) -> None:
    routes = _state_changing(client)
    # The enumeration finds the routes known today, so a new one is covered too.
    paths = {path.replace("/v1/", "/{version}/") for _, path in routes}
    assert paths >= KNOWN_CHANGES

    for method, path in routes:
        answer = call(
            client.app,  # type: ignore[arg-type]
            method,
            path,
            headers={"Content-Type": "application/json", **headers},
            chunks=_repeated(b"x" * 65_536),
        )
        assert (method, path, answer.status) == (method, path, 401)
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.chunks_read == 0, f"{method} {path} read the body before the token"
    assert (retrainer.requests, retrainer.promotions, retrainer.rollbacks) == ([], [], 0)
    assert backlog_sink.calls == []


def test_a_declared_length_over_the_bound_answers_413_unread(
    client: TestClient, retrainer: FakeRetrainer
) -> None:
    answer = call(
        client.app,  # type: ignore[arg-type]
        "POST",
        "/models/v1/promote",
        headers={**AUTH, "Content-Type": "application/json", "Content-Length": "200000000"},
        chunks=_repeated(b"x" * 65_536),
    )

    assert answer.status == 413
    assert "65536 bytes" in answer.json()["detail"]
    assert answer.chunks_read == 0
    assert retrainer.promotions == []


def test_a_chunked_body_over_the_bound_is_read_no_further_than_the_bound(
    client: TestClient, retrainer: FakeRetrainer
) -> None:
    answer = call(
        client.app,  # type: ignore[arg-type]
        "POST",
        "/models/v1/promote",
        headers={**AUTH, "Content-Type": "application/json"},
        chunks=_repeated(b" " * 4_096),
    )

    assert answer.status == 413
    assert 65_536 < answer.bytes_read <= 65_536 + 4_096
    assert retrainer.promotions == []


def test_a_reason_within_the_bound_is_still_accepted(
    client: TestClient, engine: Engine, retrainer: FakeRetrainer
) -> None:
    add_version(engine, "v1", NOW)
    body = b'{"reason": "' + b"r" * 400 + b'"}' + b" " * 60_000  # under 64 KiB

    response = client.post(
        "/models/v1/promote", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 200
    assert retrainer.promotions == [("v1", "r" * 400)]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_bound_is_a_setting(
    make_client: ClientFactory, retrainer: FakeRetrainer, chunked: bool
) -> None:
    client = make_client(max_json_body_bytes=2_048)
    body = b'{"reason": "x"}' + b" " * 2_048
    content = iter([body[:1_000], body[1_000:]]) if chunked else body

    response = client.post(
        "/models/v1/promote", content=content, headers={**AUTH, "Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert retrainer.promotions == []


@pytest.mark.parametrize(
    "path",
    [
        "/models/" + "v" * 129 + "/promote",
        "/models/" + "v" * 129 + "/rollback",
        "/models/v%201/promote",
        "/models/-v1/promote",
        "/models/v1%24/rollback",
        "/models/%C3%A9t%C3%A9/promote",
    ],
    ids=["long-promote", "long-rollback", "space", "leading-dash", "dollar", "non-ascii"],
)
def test_a_version_no_model_can_have_answers_404(
    client: TestClient, retrainer: FakeRetrainer, path: str
) -> None:
    response = client.post(path, headers=AUTH)

    assert response.status_code == 404
    assert "not a model version" in response.json()["detail"]
    assert (retrainer.promotions, retrainer.rollbacks) == ([], 0)


@pytest.mark.parametrize("run_id", ["r" * 129, "run%201", "r%24"], ids=["long", "space", "dollar"])
def test_a_run_id_no_run_can_have_answers_404(client: TestClient, run_id: str) -> None:
    response = client.get(f"/runs/{run_id}")

    assert response.status_code == 404
    assert "not a training run id" in response.json()["detail"]

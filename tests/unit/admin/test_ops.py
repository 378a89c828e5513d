"""GET /healthz and GET /metrics."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from tests.unit.admin.conftest import ClientFactory


def test_healthz_ok(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_503_when_the_database_is_unreachable(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    broken = create_engine(f"sqlite:///{tmp_path / 'not-a-dir' / 'sieve.db'}")

    response = make_client(on=broken).get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "OperationalError" in response.json()["detail"]
    broken.dispose()


def test_metrics_in_prometheus_text_format(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert b"# TYPE python_info gauge" in response.content

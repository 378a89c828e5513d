"""The admin API's /stats and /healthz on a real PostgreSQL database.

The hourly buckets use PostgreSQL's own date_trunc; the session runs in a half-hour
time zone so that truncating in local time instead of UTC would put rows in wrong hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from sieve.admin.app import create_app
from sieve.core.settings import Settings
from sieve.labeler.usage import RequestOutcome
from sieve.store.migrate import upgrade
from sieve.store.stats import escalation_by_hour, llm_usage
from sieve.store.versions import activate_model_version
from tests.unit.admin.fakes import FakeRetrainer
from tests.unit.admin.store_rows import (
    NOW,
    add_label,
    add_request,
    add_version,
    seed_decisions,
    seed_labels,
    seed_recent_decisions,
    seed_requests,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    upgrade(postgres_url)
    engine = create_engine(postgres_url, connect_args={"options": "-c timezone=Asia/Kolkata"})
    yield engine
    engine.dispose()


@pytest.fixture
def client(pg_engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, data_dir=tmp_path, admin={"token": "t"})
    with TestClient(create_app(settings, pg_engine, FakeRetrainer())) as client:
        yield client


def test_hourly_buckets_are_utc_hours_on_postgres(pg_engine: Engine) -> None:
    seed_decisions(pg_engine, NOW)

    buckets = escalation_by_hour(pg_engine, now=NOW)

    assert buckets[-1].hour == NOW.replace(minute=0)
    assert (buckets[-1].decisions, buckets[-1].escalated) == (3, 2)
    assert (buckets[-2].decisions, buckets[-2].escalated) == (1, 1)
    assert (buckets[0].decisions, buckets[0].escalated) == (1, 0)
    assert sum(bucket.decisions for bucket in buckets) == 5


def test_llm_usage_on_postgres(pg_engine: Engine) -> None:
    seed_decisions(pg_engine, NOW)
    seed_labels(pg_engine)
    seed_requests(pg_engine)

    usage = llm_usage(pg_engine)

    assert (usage.calls, usage.tokens_in, usage.tokens_out) == (4, 340, 34)
    assert usage.cost_usd == pytest.approx(0.8)
    assert usage.calls_by_outcome == {"ok": 2, "outside_set": 1, "timeout": 1}
    assert usage.failed_labels == 1


def test_stats_endpoint_on_postgres(client: TestClient, pg_engine: Engine) -> None:
    seed_recent_decisions(pg_engine)
    add_label(pg_engine, "r1", tokens_in=10, tokens_out=5, cost_usd=0.1)
    add_label(pg_engine, "r4", status="failed", label=None, error="timeout")
    add_request(pg_engine, "r1", RequestOutcome.OK, (10, 5), 0.1)
    add_request(pg_engine, "r4", RequestOutcome.SERVER_ERROR)
    add_version(pg_engine, "v1", NOW - timedelta(days=1))
    activate_model_version(pg_engine, "v1", reason="test")

    body = client.get("/stats").json()

    assert body["messages_total"] == 4
    assert body["active_version"] == "v1"
    assert (body["decisions_24h"], body["escalated_24h"]) == (3, 2)
    assert len(body["escalated_by_hour"]) == 24
    assert body["llm"]["calls"] == 2
    assert body["llm"]["cost_usd"] == pytest.approx(0.1)
    assert body["llm"]["failed_labels"] == 1


def test_healthz_on_postgres(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_503_when_postgres_is_unreachable(tmp_path: Path) -> None:
    # Port 1 refuses at once: the check must report, not hang or raise.
    broken = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    settings = Settings(_env_file=None, data_dir=tmp_path)
    with TestClient(create_app(settings, broken, FakeRetrainer())) as client:
        response = client.get("/healthz")
    broken.dispose()

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/runs/a%00b"),
        ("post", "/models/a%00b/promote"),
        ("post", "/models/a%00b/rollback"),
    ],
)
def test_nul_in_a_path_parameter_is_not_found_on_postgres(
    pg_engine: Engine, tmp_path: Path, method: str, path: str
) -> None:
    # No key can hold a NUL on PostgreSQL: such a name is simply not there (not a 500).
    # The real retraining service reads the runs table (the fake keeps runs in memory).
    import sieve.workers.distill.retrain as retraining

    settings = Settings(_env_file=None, data_dir=tmp_path, admin={"token": "t"})
    app = create_app(settings, pg_engine, retraining)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(method, path, headers={"Authorization": "Bearer t"})

    assert response.status_code == 404, response.text

"""`make faults` in CI: the short form of every registered fault scenario, one test each,
on the real services (embedded broker, PostgreSQL, Redis, Celery and stream worker
subprocesses, the teacher simulator). A scenario added to the registry is tested here
without a change to this file."""

from __future__ import annotations

import os

import pytest

from sieve.bench.faults import SCENARIOS
from sieve.bench.faults.run import run_one, table
from sieve.bench.faults.suite import Suite
from sieve.demo.broker import EmbeddedBroker
from tests.conftest import BANKING77, require_service


@pytest.fixture(scope="module")
def suite(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Suite:
    host = os.environ.get("SIEVE_TEST_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("SIEVE_TEST_PG_PORT", "5432"))
    user = os.environ.get("SIEVE_TEST_PG_USER", "postgres")
    require_service("PostgreSQL", host, port)
    require_service("Redis", "127.0.0.1", 6379)
    dsn = f"host={host} port={port} user={user} dbname=postgres"
    return Suite(broker, dsn, BANKING77, tmp_path_factory.mktemp("faults"))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fault_scenario_short_form_passes(suite: Suite, name: str) -> None:
    row = run_one(suite, name, short=True)
    assert row.passed, f"\n{table([row])}\nlogs: {suite.work_dir}"
    assert row.messages > 0 and row.lost == 0 and row.duplicates == 0

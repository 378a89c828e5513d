"""Issue 10 item 6 on the real process: `sieve admin` (uvicorn) on PostgreSQL refuses a
200 MB body without reading it into memory, refuses every state-changing route without a
token, and never writes its secrets to its log. The probes (the server's memory from /proc,
the 200 MB sender, the route enumeration, the secrets grep) are the fault scenario's, in
sieve/bench/faults/admin.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sieve.bench.faults.admin import (
    BODY_BYTES,
    MAX_GROWTH_BYTES,
    AdminServer,
    free_port,
    leaked_secrets,
    post_large_body,
    state_changing_routes,
)
from sieve.demo.processes import CliProcess
from sieve.store.migrate import upgrade

pytestmark = pytest.mark.integration

TOKEN = "admin-secret-5f1c0e7a9b2d"
LLM_API_KEY = "sk-llm-secret-8d3e6a1f4c70"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def admin(postgres_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[AdminServer]:
    upgrade(postgres_url)
    port = free_port()
    env = {
        **os.environ,
        "SIEVE_DATA_DIR": str(tmp_path),
        "SIEVE_DATABASE__URL": postgres_url,
        "SIEVE_ADMIN__TOKEN": TOKEN,
        "SIEVE_ADMIN__PORT": str(port),
        "SIEVE_LLM__API_KEY": LLM_API_KEY,
        # Tasks sent by retrain and label-jobs land in this test's own queue and keys.
        "SIEVE_REDIS__KEY_PREFIX": redis_prefix,
        "SIEVE_CELERY__QUEUE": f"{redis_prefix}tasks",
        "SIEVE_LOG_LEVEL": "DEBUG",
    }
    with CliProcess(env, "admin", log=tmp_path / "admin.log") as process:
        server = AdminServer(process, port)
        server.wait_ready(timeout_s=60)
        yield server


@pytest.mark.parametrize(
    ("headers", "chunked", "expected"),
    [({}, True, 401), (AUTH, True, 413), (AUTH, False, 413)],
    ids=["no-token", "token-chunked", "token-content-length"],
)
def test_a_200_mb_body_is_refused_without_the_server_growing(
    admin: AdminServer, headers: dict[str, str], chunked: bool, expected: int
) -> None:
    body = post_large_body(admin, headers, chunked)

    assert body.warmup_status == 401
    assert body.status == expected
    assert body.sent_bytes < BODY_BYTES  # the answer came before the body was all sent
    assert body.growth_bytes < MAX_GROWTH_BYTES, (
        f"grew from {body.rss_before} to {body.rss_peak} bytes"
    )
    assert admin.request("GET", "/healthz")[0] == 200


def test_every_state_changing_route_refuses_without_a_token(admin: AdminServer) -> None:
    changes = state_changing_routes()
    assert len(changes) >= 4

    for method, path in changes:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            status, body = admin.request(method, path, headers, b'{"reason": "x"}')
            assert (method, path, status) == (method, path, 401), body


def test_secrets_never_appear_in_the_log(admin: AdminServer) -> None:
    ndjson = {**AUTH, "Content-Type": "application/x-ndjson"}
    lines = b"".join(
        json.dumps({"id": f"s{i}", "text": f"text {i}"}).encode() + b"\n" for i in range(3)
    )
    calls = [
        ("GET", "/models", {}, b""),
        ("GET", "/stats", {}, b""),
        ("POST", "/retrain", AUTH, b""),
        ("POST", "/retrain", {"Authorization": f"Bearer {TOKEN}x"}, b""),
        ("POST", "/models/v1/promote", AUTH, b'{"reason": "check"}'),
        ("POST", "/models/v1/rollback", AUTH, b""),
        ("POST", "/label-jobs", ndjson, lines),
        ("POST", "/label-jobs", ndjson, b"{oops\n"),
    ]
    statuses = [
        admin.request(method, path, headers, body)[0] for method, path, headers, body in calls
    ]
    assert statuses == [200, 200, 202, 401, 404, 404, 202, 422]
    admin.process.stop(grace_s=15)

    log = admin.log_text()
    assert "effective configuration" in log and "**********" in log  # the masked settings
    assert "label job from the admin API: 3 received" in log  # the routes did log
    assert leaked_secrets(log, {"token": TOKEN, "LLM api key": LLM_API_KEY}) == []

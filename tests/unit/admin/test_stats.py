"""The /stats figures (sieve.store.stats) on SQLite, and the endpoint that shows them."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sieve.admin.app import create_app
from sieve.core.settings import Settings
from sieve.labeler.usage import RequestOutcome
from sieve.store.escalations import EscalationStatus, set_escalation_status
from sieve.store.repository import (
    EscalationRecord,
    MessageRecord,
    save_escalations,
    save_messages,
)
from sieve.store.spend import CounterAdd, add_to_counters
from sieve.store.stats import escalation_by_hour, llm_usage, messages_total
from sieve.store.versions import activate_model_version
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


def test_escalations_are_bucketed_per_utc_hour(engine: Engine) -> None:
    seed_decisions(engine, NOW)

    buckets = escalation_by_hour(engine, now=NOW)

    current_hour = NOW.replace(minute=0)
    assert len(buckets) == 24
    assert buckets[0].hour == current_hour - timedelta(hours=23)
    assert buckets[-1].hour == current_hour
    assert (buckets[-1].decisions, buckets[-1].escalated) == (3, 2)
    assert buckets[-1].escalated_share == pytest.approx(2 / 3)
    assert (buckets[-2].decisions, buckets[-2].escalated) == (1, 1)
    # The oldest hour keeps its accepted row; the escalation a second earlier is outside.
    assert (buckets[0].decisions, buckets[0].escalated) == (1, 0)
    assert all(b.decisions == 0 and b.escalated_share is None for b in buckets[1:-2])


def test_llm_usage_counts_every_request_in_the_ledger_and_failed_labels(engine: Engine) -> None:
    seed_decisions(engine, NOW)
    seed_labels(engine)
    seed_requests(engine)

    usage = llm_usage(engine)

    # Every request: the corrective turn and the timeout too; the label rows' own figures
    # (a cache hit, the failed label's tokens) are not what was spent.
    assert usage.calls == 4
    assert usage.tokens_in == 340
    assert usage.tokens_out == 34
    assert usage.cost_usd == pytest.approx(0.8)
    assert usage.calls_by_outcome == {"ok": 2, "outside_set": 1, "timeout": 1}
    assert usage.failed_labels == 1
    assert messages_total(engine) == 6


def test_stats_endpoint(client: TestClient, engine: Engine) -> None:
    seed_recent_decisions(engine)
    add_label(engine, "r1", tokens_in=10, tokens_out=5, cost_usd=0.1)
    add_label(engine, "r2", tokens_in=10, tokens_out=5, cost_usd=0.2)
    add_label(engine, "r4", status="failed", label=None, error="timeout")
    add_request(engine, "r1", RequestOutcome.OK, (10, 5), 0.1)
    add_request(engine, "r2", RequestOutcome.OK, (10, 5), 0.2)
    add_request(engine, "r4", RequestOutcome.RATE_LIMITED)
    add_version(engine, "v1", NOW)
    activate_model_version(engine, "v1", reason="test")

    body = client.get("/stats").json()

    assert body["messages_total"] == 4
    assert body["active_version"] == "v1"
    assert body["decisions_24h"] == 3
    assert body["escalated_24h"] == 2
    assert body["escalated_share_24h"] == pytest.approx(2 / 3)
    assert len(body["escalated_by_hour"]) == 24
    assert sum(hour["decisions"] for hour in body["escalated_by_hour"]) == 3
    assert body["llm"] == {
        "calls": 3,
        "tokens_in": 20,
        "tokens_out": 10,
        "cost_usd": pytest.approx(0.3),
        "failed_labels": 1,
        "calls_by_outcome": {"ok": 2, "rate_limited": 1},
    }


def test_stats_shows_each_prompt_version_and_the_ab_arms(
    client: TestClient, engine: Engine
) -> None:
    from sieve.store import prompt_arms

    add_label(engine, "r1", cost_usd=0.1)
    add_label(engine, "r2", cost_usd=0.3, label="card_linking")
    add_label(engine, "r1", source="human", prompt_version="gold", llm_model="")
    add_label(engine, "r2", source="human", prompt_version="gold", llm_model="")
    add_label(engine, "r3", prompt_version="few-shot@1")
    add_request(engine, "r1", RequestOutcome.OK, (10, 5), 0.1)
    add_request(engine, "r2", RequestOutcome.OK, (10, 5), 0.3)
    pool = prompt_arms.pool_of(["zero-shot@1", "few-shot@1"])
    prompt_arms.ensure_arms(engine, pool, ["zero-shot@1", "few-shot@1"])
    prompt_arms.assign(engine, pool, "r1", "zero-shot@1")
    prompt_arms.assign(engine, pool, "r2", "zero-shot@1")
    prompt_arms.assign(engine, pool, "r3", "few-shot@1")
    prompt_arms.promote(engine, pool, "few-shot@1", "P(best) 0.970 >= 0.950 after 60 rewards")

    body = client.get("/stats").json()["prompts"]

    versions = {row["prompt_version"]: row for row in body["versions"]}
    assert versions["zero-shot@1"] == {
        "prompt_version": "zero-shot@1",
        "labels": 2,
        "rewards": 2,
        "accuracy": 0.5,
        "requests": 2,
        "cost_usd": pytest.approx(0.4),
        "cost_per_label_usd": pytest.approx(0.2),
        "mean_latency_ms": pytest.approx(versions["zero-shot@1"]["mean_latency_ms"]),
    }
    assert versions["few-shot@1"]["rewards"] == 0 and versions["few-shot@1"]["accuracy"] is None
    arms = {arm["prompt_version"]: arm for arm in body["arms"]}
    assert arms["few-shot@1"]["status"] == "promoted" and arms["few-shot@1"]["assigned"] == 1
    assert arms["few-shot@1"]["reason"].startswith("P(best) 0.970")
    assert (arms["zero-shot@1"]["status"], arms["zero-shot@1"]["assigned"]) == ("retired", 2)


def test_stats_on_an_empty_store(client: TestClient) -> None:
    body = client.get("/stats").json()

    assert body["messages_total"] == 0
    assert body["active_version"] is None
    assert body["escalated_share_24h"] is None
    assert body["llm"]["calls"] == 0
    assert body["prompts"] == {"versions": [], "arms": []}


def test_stats_shows_each_llm_limit_and_the_deferred_escalations(
    engine: Engine, sqlite_url: str, tmp_path
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        database={"url": sqlite_url},
        celery={"broker_url": sqlite_url},  # no Redis: the counters are in the store
        budget={"usd_per_hour": 2.0},
    )
    hour = int(time.time() // 3_600)
    add_to_counters(engine, [CounterAdd(f"usd_per_hour:{hour}", 0.5, 60)])
    save_messages(engine, [MessageRecord(id=f"d{i}", text="t") for i in range(2)])
    save_escalations(engine, [EscalationRecord(f"d{i}", "v1", "low_confidence") for i in range(2)])
    set_escalation_status(engine, ["d1"], EscalationStatus.DEFERRED)

    with TestClient(create_app(settings, engine)) as client:
        body = client.get("/stats").json()

    (limit,) = body["limits"]
    assert {key: limit[key] for key in ("name", "capacity", "spent", "remaining")} == {
        "name": "usd_per_hour",
        "capacity": 2.0,
        "spent": 0.5,
        "remaining": 1.5,
    }
    assert datetime.fromisoformat(limit["resets_at"]).timestamp() == (hour + 1) * 3_600
    assert body["escalations_deferred"] == 1

"""Rows the admin tests put in a migrated store (also used by the PostgreSQL tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from sieve.labeler.usage import LLMRequest, RequestOutcome
from sieve.store.labels import LabelRecord, save_label
from sieve.store.ledger import LedgerRecorder
from sieve.store.tables import messages, model_versions, predictions

# A fixed clock in the middle of an hour, so rows an hour apart land in distinct buckets.
NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def add_version(engine: Engine, version: str, created_at: datetime, **metrics: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            model_versions.insert().values(
                version=version,
                family="ngram",
                path=f"/models/{version}",
                data_hash="0" * 64,
                metrics=metrics,
                created_at=created_at,
            )
        )


def add_decision(engine: Engine, message_id: str, route: str, at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(messages.insert().values(id=message_id, text=f"text {message_id}"))
        conn.execute(
            predictions.insert().values(
                message_id=message_id,
                model_version="v1",
                label="card_arrival",
                confidence=0.9 if route == "accept" else 0.2,
                margin=0.5,
                route=route,
                reason="confident" if route == "accept" else "low_confidence",
                created_at=at,
            )
        )


def add_label(engine: Engine, message_id: str, **fields: Any) -> None:
    values: dict[str, Any] = {
        "source": "llm",
        "prompt_version": "zero-shot@1",
        "llm_model": "teacher-sim",
        "label": "card_arrival",
        "status": "ok",
    }
    values.update(fields)
    save_label(engine, LabelRecord(message_id=message_id, **values))


def seed_decisions(engine: Engine, now: datetime) -> None:
    """Six routing decisions: 3 this hour (2 escalated), 1 an hour ago (escalated),
    1 in the oldest hour of the window (accepted), 1 just outside it (escalated)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    add_decision(engine, "m1", "escalate", hour + timedelta(minutes=1))
    add_decision(engine, "m2", "escalate", hour + timedelta(minutes=2))
    add_decision(engine, "m3", "accept", hour + timedelta(minutes=3))
    add_decision(engine, "m4", "escalate", hour - timedelta(minutes=30))
    add_decision(engine, "m5", "accept", hour - timedelta(hours=23))
    add_decision(engine, "m6", "escalate", hour - timedelta(hours=23, seconds=1))


def seed_labels(engine: Engine) -> None:
    """Two paid LLM calls, one failed call, one cached answer, one human label."""
    add_label(engine, "m1", tokens_in=100, tokens_out=10, cost_usd=0.25)
    add_label(engine, "m2", tokens_in=200, tokens_out=20, cost_usd=0.5)
    add_label(engine, "m4", status="failed", label=None, error="timeout", tokens_in=50)
    add_label(engine, "m5", tokens_in=999, tokens_out=99, cost_usd=9.0, cached=True)
    add_label(engine, "m6", source="human", prompt_version="", llm_model="")


def add_request(
    engine: Engine,
    message_id: str,
    outcome: RequestOutcome,
    tokens: tuple[int, int] = (0, 0),
    cost_usd: float = 0.0,
    turn: int = 1,
) -> None:
    """One ledger row, as the workers write it for each request to the LLM."""
    request = LLMRequest(
        model="teacher-sim",
        prompt_version="zero-shot@1",
        turn=turn,
        outcome=outcome,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cost_usd=cost_usd,
        latency_ms=12.5,
    )
    LedgerRecorder(engine).for_message(message_id).record(request)


def seed_requests(engine: Engine) -> None:
    """The ledger behind seed_labels: m1 answered at once; m2 after an answer outside the
    set (a corrective turn); m4 timed out. The cached m5 made no request."""
    add_request(engine, "m1", RequestOutcome.OK, (100, 10), 0.25)
    add_request(engine, "m2", RequestOutcome.OUTSIDE_SET, (40, 4), 0.05)
    add_request(engine, "m2", RequestOutcome.OK, (200, 20), 0.5, turn=2)
    add_request(engine, "m4", RequestOutcome.TIMEOUT)


def seed_recent_decisions(engine: Engine) -> None:
    """Against the real clock, far from the window's edges: 3 decisions in the last 24 h
    (2 escalated) and one escalation 25 h ago that /stats must leave out."""
    now = datetime.now(UTC)
    add_decision(engine, "r1", "escalate", now - timedelta(minutes=1))
    add_decision(engine, "r2", "escalate", now - timedelta(hours=2))
    add_decision(engine, "r3", "accept", now - timedelta(hours=3))
    add_decision(engine, "r4", "escalate", now - timedelta(hours=25))

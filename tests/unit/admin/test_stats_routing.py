"""/stats: decisions per routing rule and the drift of the active version's decisions,
read from the store (sieve.store.routing_stats) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sieve.admin.app import create_app
from sieve.core.settings import DriftSettings, Settings
from sieve.store.engine import make_engine
from sieve.store.routing_stats import rule_decisions, stored_drift
from sieve.store.tables import messages, predictions
from sieve.store.versions import activate_model_version
from tests.fakes import FakeBacklogSink
from tests.unit.admin.fakes import FakeRetrainer
from tests.unit.admin.store_rows import add_version

DRIFT = DriftSettings(window=40, min_samples=20)
START = datetime.now(UTC) - timedelta(hours=2)


def add_rows(engine: Engine, first: int, count: int, *, label: str, route: str, **row) -> None:
    """``count`` decisions one second apart, numbered from ``first`` (their time order)."""
    with engine.begin() as conn:
        for i in range(first, first + count):
            conn.execute(messages.insert().values(id=f"m{i:04d}", text="t"))
            conn.execute(
                predictions.insert().values(
                    message_id=f"m{i:04d}",
                    model_version=row.get("version", "v1"),
                    label=label,
                    confidence=row.get("confidence", 0.9),
                    margin=0.5,
                    route=route,
                    reason=row.get("reason", "confident" if route == "accept" else "unseen"),
                    created_at=START + timedelta(seconds=i),
                )
            )


@pytest.fixture
def engine(store_url: str):
    engine = make_engine(store_url)
    add_version(engine, "v1", START)
    activate_model_version(engine, "v1", reason="test")
    yield engine
    engine.dispose()


def by_signal(verdict):
    return {signal.signal.value: signal for signal in verdict}


def test_drift_compares_the_first_window_with_the_latest(engine: Engine) -> None:
    add_rows(engine, 0, 40, label="card", route="accept")  # the reference
    add_rows(engine, 40, 40, label="card", route="accept")  # like it
    # Rule decisions and another version's rows are not the active model's decisions.
    add_rows(engine, 80, 30, label="refund", route="accept", reason="rule:refund-words")
    add_rows(engine, 200, 30, label="refund", route="escalate", version="v0")
    calm = by_signal(stored_drift(engine, DRIFT))
    assert not any(signal.alert for signal in calm.values())
    assert calm["label_mix"].score == 0.0
    assert (calm["label_mix"].reference_messages, calm["label_mix"].current_messages) == (40, 40)

    add_rows(engine, 300, 40, label="refund", route="escalate", confidence=0.3)
    shifted = by_signal(stored_drift(engine, DRIFT))
    assert {name for name, signal in shifted.items() if signal.alert} == {
        "escalation_rate",
        "label_mix",
        "confidence",
    }
    assert shifted["escalation_rate"].score == 1.0


def test_drift_against_the_previous_window(engine: Engine) -> None:
    previous = DRIFT.model_copy(update={"reference": "previous"})
    add_rows(engine, 0, 40, label="card", route="accept")
    add_rows(engine, 40, 40, label="refund", route="accept")
    add_rows(engine, 80, 40, label="refund", route="accept")
    assert by_signal(stored_drift(engine, previous))["label_mix"].score == 0.0
    assert by_signal(stored_drift(engine, DRIFT))["label_mix"].score == 1.0


def test_no_verdict_without_enough_decisions(engine: Engine) -> None:
    add_rows(engine, 0, 50, label="card", route="accept")  # reference 40, current 10
    verdict = stored_drift(engine, DRIFT)
    assert all(signal.score is None and not signal.alert for signal in verdict)
    assert {(s.reference_messages, s.current_messages) for s in verdict} == {(40, 10)}


def test_rule_decisions_are_counted_per_rule(engine: Engine) -> None:
    add_rows(engine, 0, 3, label="refund", route="accept", reason="rule:refund-words")
    add_rows(engine, 3, 2, label=None, route="escalate", reason="rule:fraud")
    add_rows(engine, 5, 4, label="card", route="accept")
    assert rule_decisions(engine) == {"fraud": 2, "refund-words": 3}
    assert rule_decisions(engine, now=START + timedelta(days=2)) == {}


def test_stats_endpoint_shows_rules_and_drift(sqlite_engine: Engine, tmp_path: Path) -> None:
    add_rows(sqlite_engine, 200, 100, label="card", route="accept", version="v0")
    assert all(s.score is None for s in stored_drift(sqlite_engine, DRIFT))  # none active
    add_version(sqlite_engine, "v1", START)
    activate_model_version(sqlite_engine, "v1", reason="test")
    add_rows(sqlite_engine, 0, 40, label="card", route="accept")
    add_rows(sqlite_engine, 40, 40, label="refund", route="accept")
    add_rows(sqlite_engine, 80, 2, label=None, route="escalate", reason="rule:fraud")
    settings = Settings(_env_file=None, data_dir=tmp_path, drift=DRIFT.model_dump())
    app = create_app(settings, sqlite_engine, FakeRetrainer(), FakeBacklogSink())
    with TestClient(app) as client:
        body = client.get("/stats").json()
    assert body["rules_24h"] == {"fraud": 2}
    assert set(body["drift"]) == {"escalation_rate", "label_mix", "confidence"}
    mix = body["drift"]["label_mix"]
    assert (mix["score"], mix["bound"], mix["alert"], mix["window"]) == (1.0, 0.25, True, 40)
    assert body["drift"]["escalation_rate"]["alert"] is False

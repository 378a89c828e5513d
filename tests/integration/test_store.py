"""The label store on SQLite and on a real PostgreSQL: migrations and idempotent writes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from sieve.core.errors import ModelNotFound
from sieve.store import migrate
from sieve.store.engine import make_engine
from sieve.store.repository import (
    EscalationRecord,
    MessageRecord,
    PredictionRecord,
    count_rows,
    pending_escalations,
    save_escalations,
    save_predictions,
)
from sieve.store.tables import escalations, messages, predictions
from sieve.store.versions import (
    ModelVersionRecord,
    activate_model_version,
    active_model_version,
    list_model_versions,
)


@pytest.fixture
def engine(store_url):
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


def _batch(n: int, version: str = "v1", label: str = "a"):
    msgs = [
        MessageRecord(id=f"m{i}", text=f"text {i}", topic="t", partition=0, offset=i)
        for i in range(n)
    ]
    rows = [
        PredictionRecord(f"m{i}", version, label, 0.9, 0.5, "accept", "confident") for i in range(n)
    ]
    return msgs, rows


def test_migration_reaches_head(store_url):
    assert migrate.current(store_url) == migrate.head()
    migrate.upgrade(store_url)  # a second run is a no-op
    assert migrate.current(store_url) == migrate.head()


def test_redelivered_batch_makes_no_second_row(engine):
    msgs, rows = _batch(50)
    save_predictions(engine, msgs, rows)
    # Redelivered after a crash and classified again, this time with another label:
    msgs2, rows2 = _batch(50, label="b")
    save_predictions(engine, msgs2, rows2)
    assert count_rows(engine, messages) == 50
    assert count_rows(engine, predictions) == 50
    with engine.connect() as conn:
        labels = set(conn.execute(select(predictions.c.label)).scalars())
    assert labels == {"b"}  # the prediction row is updated in place


def test_another_model_version_adds_its_own_row(engine):
    save_predictions(engine, *_batch(3, version="v1"))
    save_predictions(engine, *_batch(3, version="v2"))
    assert count_rows(engine, predictions) == 6
    with engine.connect() as conn:
        per_message = conn.execute(
            select(func.count()).select_from(predictions).group_by(predictions.c.message_id)
        ).scalars()
        assert set(per_message) == {2}


def test_escalations_are_recorded_once(engine):
    rows = [EscalationRecord(f"m{i}", "v1", "low_confidence") for i in range(5)]
    save_escalations(engine, rows)
    save_escalations(engine, rows)
    assert count_rows(engine, escalations) == 5
    assert {row.message_id for row in pending_escalations(engine)} == {f"m{i}" for i in range(5)}


def test_activation_history_and_unknown_version(engine):
    from sieve.store.versions import register_model_version

    assert active_model_version(engine) is None
    for version in ("v1", "v2"):
        register_model_version(
            engine,
            ModelVersionRecord(version, "ngram", f"/models/{version}", "h", {"accuracy": 0.9}),
        )
    activate_model_version(engine, "v1", reason="first")
    activate_model_version(engine, "v2", reason="better")
    assert active_model_version(engine) == "v2"
    activate_model_version(engine, "v1", reason="rollback")
    assert active_model_version(engine) == "v1"
    assert {record.version: active for record, active in list_model_versions(engine)} == {
        "v1": True,
        "v2": False,
    }
    with pytest.raises(ModelNotFound):
        activate_model_version(engine, "nope", reason="typo")

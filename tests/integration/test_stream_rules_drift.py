"""Routing rules and drift alerts through the real stream worker: embedded broker,
PostgreSQL, a trained model. A rule's reason reaches the store, the escalation and the
label event; a shifted label mix raises the alert in the worker's metrics and in /stats."""

from __future__ import annotations

import json
import random

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from sieve.admin.app import create_app
from sieve.core.dataset import read_labeled_jsonl
from sieve.core.events import LabelEvent, LabelSource
from sieve.store.engine import make_engine
from sieve.store.labels import training_labels
from sieve.store.tables import escalations, predictions
from sieve.store.training import labels_since
from sieve.wiring import stream_worker
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.llm.escalation import StoreEscalationSink
from sieve.workers.stream.produce import produce_lines
from tests.conftest import BANKING77
from tests.fakes import FakeBacklogSink
from tests.integration.conftest import activate, read_topic
from tests.unit.admin.fakes import FakeRetrainer

RULES = """\
rules:
  - name: refund-words
    keywords: [refund]
    action: escalate
  - name: stolen
    regex: '\\bstolen\\b'
    label: lost_or_stolen_card
"""
WINDOW = 300
# Few labels after the shift: the current window's predicted labels crowd onto them.
SHIFTED_LABELS = {
    "card_arrival",
    "exchange_rate",
    "pin_blocked",
    "top_up_failed",
    "cash_withdrawal_charge",
    "country_support",
    "apple_pay_or_google_pay",
    "change_pin",
}


def _line(index: int, text: str) -> bytes:
    # Ids in stream order: the store orders a batch's rows (one timestamp) by id.
    return json.dumps({"id": f"drift-{index:04d}", "text": text}).encode()


def test_rules_decide_before_the_model_and_a_shifted_mix_alerts(settings, model_factory, tmp_path):
    activate(settings.database_url, model_factory(0))
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES)
    # 77 labels and 300 decisions a window: the label mix of two samples of one
    # distribution differs by a TVD of ~0.28 by chance, so the bound sits above that.
    settings = settings.model_copy(
        update={
            "routing": settings.routing.model_copy(update={"rules_file": rules_file}),
            "drift": settings.drift.model_copy(
                update={"window": WINDOW, "min_samples": 100, "label_mix_bound": 0.6}
            ),
            "kafka": settings.kafka.model_copy(update={"max_batch_size": 50}),
        }
    )
    rows = [
        row
        for row in read_labeled_jsonl(BANKING77 / "test.jsonl")
        if "refund" not in row.text.lower() and "stolen" not in row.text.lower()
    ]
    random.Random(5).shuffle(rows)
    calm = [row.text for row in rows if row.label not in SHIFTED_LABELS][:WINDOW]
    shifted = [row.text for row in rows if row.label in SHIFTED_LABELS][:WINDOW]
    ruled = ["I want a refund for this", "My wallet was stolen with my card"] * 5
    texts = calm + ruled + shifted
    ensure_topics(settings.kafka)
    producer = make_producer(settings.kafka)
    produce_lines(producer, settings.kafka.input_topic, [_line(i, t) for i, t in enumerate(texts)])
    producer.close()

    engine = make_engine(settings.database_url)
    with stream_worker(settings, engine, StoreEscalationSink(engine)) as worker:
        worker.run(max_messages=len(texts), idle_timeout_s=30)

    # The rules decided their messages; the reason names the rule everywhere.
    with engine.connect() as conn:
        stored = {
            row.message_id: row
            for row in conn.execute(
                select(predictions.c.message_id, predictions.c.reason, predictions.c.label)
            )
        }
        escalated = dict(conn.execute(select(escalations.c.message_id, escalations.c.reason)).all())
    assert len(stored) == len(texts)
    ruled_ids = [f"drift-{i:04d}" for i in range(WINDOW, WINDOW + len(ruled))]
    assert [stored[i].reason for i in ruled_ids[:2]] == ["rule:refund-words", "rule:stolen"]
    assert stored[ruled_ids[1]].label == "lost_or_stolen_card"
    assert escalated[ruled_ids[0]] == "rule:refund-words"
    assert ruled_ids[1] not in escalated  # a forced label is final
    events = {
        event.id: event
        for event in (
            LabelEvent.decode(r.value)
            for r in read_topic(settings.kafka, settings.kafka.labels_topic)
        )
    }
    forced = events[ruled_ids[1]]
    assert (forced.source, forced.rule, forced.final, forced.label) == (
        LabelSource.RULE,
        "stolen",
        True,
        "lost_or_stolen_card",
    )
    assert (events[ruled_ids[0]].rule, events[ruled_ids[0]].final) == ("refund-words", False)
    # A forced label is no training label: nothing for retraining to read.
    assert training_labels(engine) == [] and labels_since(engine, None) == 0

    # The worker compared the shifted window with the first one: metric and verdict.
    verdict = {signal.signal.value: signal for signal in worker.drift.last or []}
    assert verdict["label_mix"].alert
    assert verdict["label_mix"].current_messages == WINDOW  # the ten rule messages left out
    sample = REGISTRY.get_sample_value
    assert sample("sieve_drift_alert", {"signal": "label_mix"}) == 1.0
    print(
        "label mix drift, worker: "
        + ", ".join(f"{n} {s.score:.3f} (noise ~{s.noise:.3f})" for n, s in verdict.items())
    )

    # /stats reads the same windows from the store.
    app = create_app(settings, engine, FakeRetrainer(), FakeBacklogSink())
    with TestClient(app) as client:
        body = client.get("/stats").json()
    assert body["rules_24h"] == {"refund-words": 5, "stolen": 5}
    mix = body["drift"]["label_mix"]
    assert mix["alert"] is True and mix["window"] == WINDOW
    assert mix["score"] == pytest.approx(verdict["label_mix"].score)
    engine.dispose()

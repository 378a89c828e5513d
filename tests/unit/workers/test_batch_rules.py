"""Routing rules in the stream batch: a message a rule decides never reaches the model, its
reason names the rule in the row, the escalation and the event; drift watches the rest."""

from __future__ import annotations

import json
import logging

from prometheus_client import REGISTRY

from sieve.core.events import LabelEvent, LabelSource
from sieve.core.settings import DriftSettings, RoutingSettings, StreamSettings
from sieve.routing.rules_file import parse_rules
from sieve.store.repository import PredictionRecord
from sieve.workers.records import Record
from sieve.workers.stream.batch import process_batch
from sieve.workers.stream.drift_watch import DriftWatch, model_decisions
from tests.fakes import FakeClassifier

ROUTING = RoutingSettings(min_confidence=0.5, min_margin=0.25, exploration_rate=0.0)
LIMITS = StreamSettings()
LABELS = ["card", "refund"]
RULES = parse_rules(
    [
        {"name": "fraud", "keywords": ["fraud"], "action": "escalate"},
        {"name": "refund-words", "keywords": ["money back"], "label": "refund"},
        {"name": "short", "min_chars": 4, "action": "escalate"},
    ],
    LABELS,
)


def message(offset: int, text: str) -> Record:
    value = json.dumps({"id": f"m{offset}", "text": text}).encode()
    return Record("feedback", 0, offset, None, value)


def test_rule_decisions_skip_the_model_and_name_the_rule():
    classifier = FakeClassifier(LABELS, default=[0.9, 0.1])
    batch = [
        message(0, "my card is late"),
        message(1, "FRAUD on my card"),
        message(2, "I want my money back"),
        message(3, "hi"),
    ]
    outcome = process_batch(batch, classifier, ROUTING, LIMITS, rules=RULES)

    assert classifier.calls == [["my card is late"]]  # only the message no rule decided
    assert [(p.message_id, p.route, p.reason, p.label) for p in outcome.predictions] == [
        ("m0", "accept", "confident", "card"),
        ("m1", "escalate", "rule:fraud", None),
        ("m2", "accept", "rule:refund-words", "refund"),
        ("m3", "escalate", "rule:short", None),
    ]
    # Stored under the active version, like every decision of this batch.
    assert {p.model_version for p in outcome.predictions} == {"fake-1"}
    assert [(e.message_id, e.reason) for e in outcome.escalations] == [
        ("m1", "rule:fraud"),
        ("m3", "rule:short"),
    ]
    model_event = outcome.events[0]
    assert (model_event.source, model_event.rule, model_event.model_version) == (
        LabelSource.MODEL,
        None,
        "fake-1",
    )
    assert outcome.events[1:] == [
        LabelEvent("m1", None, 0.0, LabelSource.RULE, False, None, rule="fraud"),
        LabelEvent("m2", "refund", 1.0, LabelSource.RULE, True, None, rule="refund-words"),
        LabelEvent("m3", None, 0.0, LabelSource.RULE, False, None, rule="short"),
    ]


def test_rule_events_carry_the_rule_and_other_events_stay_as_they_were():
    ruled = LabelEvent("m2", "refund", 1.0, LabelSource.RULE, True, None, rule="refund-words")
    fields = json.loads(ruled.encode())
    assert (fields["source"], fields["rule"], fields["revision"], fields["final"]) == (
        "rule",
        "refund-words",
        1,
        True,
    )
    assert LabelEvent.decode(ruled.encode()) == ruled
    plain = LabelEvent("m0", "card", 0.9, LabelSource.MODEL, True, "v1")
    assert "rule" not in json.loads(plain.encode())
    assert LabelEvent.decode(plain.encode()) == plain


def test_rules_apply_without_a_model_and_when_every_message_is_ruled():
    outcome = process_batch(
        [message(0, "fraud"), message(1, "ok?")], None, ROUTING, LIMITS, rules=RULES
    )
    assert [p.reason for p in outcome.predictions] == ["rule:fraud", "rule:short"]
    classifier = FakeClassifier(LABELS)
    process_batch([message(0, "money back now")], classifier, ROUTING, LIMITS, rules=RULES)
    assert classifier.calls == []  # no empty inference call


def test_rules_see_the_whole_text_not_the_students_cut():
    routing = ROUTING.model_copy(update={"max_text_chars": 10})
    classifier = FakeClassifier(LABELS, default=[0.9, 0.1])
    text = "a long story, and then: fraud"
    outcome = process_batch([message(0, text)], classifier, routing, LIMITS, rules=RULES)
    assert outcome.predictions[0].reason == "rule:fraud"


def _row(i: int, *, reason: str = "confident", version: str = "v1", label: str = "card"):
    route = "escalate" if reason != "confident" and not reason.startswith("rule:") else "accept"
    return PredictionRecord(f"m{i}", version, label, 0.9, 0.5, route, reason)


def test_drift_watch_skips_rule_and_no_model_rows_and_alerts_in_metrics_and_logs(caplog):
    rows = [_row(0), _row(1, reason="rule:fraud"), _row(2, version="none")]
    assert [o.label for o in model_decisions(rows)] == ["card"]

    watch = DriftWatch(DriftSettings(window=20, min_samples=10))
    watch.observe([_row(i) for i in range(20)] + [_row(99, reason="rule:x")] * 50)
    assert watch.last is None  # the reference window only
    with caplog.at_level(logging.INFO, logger="sieve.workers.stream.drift_watch"):
        watch.observe([_row(i, label="refund", reason="low_confidence") for i in range(20)])
    assert watch.last is not None
    assert {s.signal.value for s in watch.last if s.alert} == {"escalation_rate", "label_mix"}
    sample = REGISTRY.get_sample_value
    assert sample("sieve_drift_alert", {"signal": "label_mix"}) == 1.0
    assert sample("sieve_drift_score", {"signal": "label_mix"}) == 1.0
    assert sample("sieve_drift_bound", {"signal": "label_mix"}) == 0.25
    assert sample("sieve_drift_alert", {"signal": "confidence"}) == 0.0
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "drift alert on escalation_rate, label_mix over 20 messages against 20" in (
        warning.getMessage()
    )
    assert "label_mix 1.000 (bound 0.25" in warning.getMessage()


def test_drift_watch_off_publishes_nothing():
    watch = DriftWatch(DriftSettings(enabled=False, window=10, min_samples=10))
    watch.observe([_row(i) for i in range(30)])
    assert watch.last is None

import json

from sieve.core.events import LabelEvent, LabelSource
from sieve.core.settings import RoutingSettings, StreamSettings
from sieve.store.columns import NO_MODEL_VERSION
from sieve.workers.records import Record
from sieve.workers.stream.batch import process_batch
from tests.fakes import FakeClassifier

ROUTING = RoutingSettings(min_confidence=0.5, min_margin=0.25, max_text_chars=100)
LIMITS = StreamSettings()


def record(offset: int, value: bytes | None) -> Record:
    return Record("feedback", 0, offset, None, value)


def message(offset: int, text: str) -> Record:
    return record(offset, json.dumps({"id": f"m{offset}", "text": text}).encode())


def test_routes_each_message_and_builds_rows_and_events():
    classifier = FakeClassifier(
        ["card", "refund"], {"sure": [0.875, 0.125], "unsure": [0.5625, 0.4375]}
    )
    outcome = process_batch([message(0, "sure"), message(1, "unsure")], classifier, ROUTING, LIMITS)
    assert classifier.calls == [["sure", "unsure"]]  # one inference call for the batch
    assert [(p.message_id, p.route, p.reason) for p in outcome.predictions] == [
        ("m0", "accept", "confident"),
        ("m1", "escalate", "low_margin"),
    ]
    assert [e.message_id for e in outcome.escalations] == ["m1"]
    assert outcome.events == [
        LabelEvent("m0", "card", 0.875, LabelSource.MODEL, True, "fake-1"),
        LabelEvent("m1", "card", 0.5625, LabelSource.MODEL, False, "fake-1"),
    ]
    assert [(m.id, m.offset) for m in outcome.messages] == [("m0", 0), ("m1", 1)]


def test_bad_records_become_dead_letters_and_do_not_reach_the_model():
    classifier = FakeClassifier(["a", "b"], default=[1.0, 0.0])
    batch = [record(0, b"{oops"), message(1, "fine"), record(2, None)]
    outcome = process_batch(batch, classifier, ROUTING, LIMITS)
    assert [(d.record.offset, d.reason) for d in outcome.dead_letters] == [
        (0, "not_json"),
        (2, "null_value"),
    ]
    assert classifier.calls == [["fine"]]
    assert [p.message_id for p in outcome.predictions] == ["m1"]


def test_all_bad_batch_calls_no_model():
    classifier = FakeClassifier(["a"])
    outcome = process_batch([record(0, b"[]")], classifier, ROUTING, LIMITS)
    assert classifier.calls == []
    assert outcome.predictions == [] and len(outcome.dead_letters) == 1


def test_without_a_model_everything_escalates_provisionally():
    outcome = process_batch([message(0, "hello")], None, ROUTING, LIMITS)
    (row,) = outcome.predictions
    assert (row.model_version, row.route, row.reason, row.label) == (
        NO_MODEL_VERSION,
        "escalate",
        "no_model",
        None,
    )
    (event,) = outcome.events
    assert event.final is False and event.model_version is None


def test_label_event_round_trip():
    event = LabelEvent("m1", "card", 0.5, LabelSource.LLM, True, "v1", "p1")
    assert LabelEvent.decode(event.encode()) == event


def test_a_message_unlike_the_training_data_escalates_as_unseen():
    from sieve.routing.thresholds import RoutingThresholds
    from sieve.workers.stream.batch import Calibration

    classifier = FakeClassifier(
        ["card", "refund"],
        {"familiar": [1.0, 0.0], "strange": [1.0, 0.0]},
        similarity={"familiar": 0.875, "strange": 0.25},
    )
    thresholds = RoutingThresholds(per_label={}, global_threshold=0.5, min_similarity=0.5)
    outcome = process_batch(
        [message(0, "familiar"), message(1, "strange")],
        classifier,
        ROUTING,
        LIMITS,
        Calibration(thresholds),
    )
    assert [(p.route, p.reason) for p in outcome.predictions] == [
        ("accept", "confident"),
        ("escalate", "unseen"),
    ]


def test_a_long_text_is_scored_on_its_first_characters_and_stored_whole():
    long_text = "sure" + "x" * 200
    classifier = FakeClassifier(["card", "refund"], {"sure" + "x" * 96: [0.875, 0.125]})
    outcome = process_batch([message(0, long_text)], classifier, ROUTING, LIMITS)
    assert classifier.calls == [["sure" + "x" * 96]]  # max_text_chars=100
    assert [(p.route, p.reason) for p in outcome.predictions] == [("accept", "confident")]
    assert outcome.messages[0].text == long_text


def test_a_long_text_escalates_when_the_setting_says_so():
    routing = ROUTING.model_copy(update={"long_text": "escalate"})
    classifier = FakeClassifier(["card", "refund"], default=[0.875, 0.125])
    outcome = process_batch([message(0, "y" * 101)], classifier, routing, LIMITS)
    assert [(p.route, p.reason) for p in outcome.predictions] == [("escalate", "text_too_long")]

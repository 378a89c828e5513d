"""Item 2 of issue 7, as a property: arbitrary bytes and arbitrary JSON go through decoding,
batch processing and the store write (save_predictions, via the checkpoint) on SQLite and
PostgreSQL. Nothing may raise; every record is stored or dead-lettered, and the store never
has to refuse a record the decoder accepted."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sieve.core.settings import KafkaSettings, RoutingSettings, StreamSettings
from sieve.models.families import load_classifier
from sieve.store.engine import make_engine
from sieve.workers.records import Partition, Record
from sieve.workers.stream.batch import process_batch
from sieve.workers.stream.checkpoint import Checkpoint
from tests.fakes import FakeConsumer, FakeEscalationSink, FakeProducer

LIMITS = StreamSettings(max_message_bytes=65_536)
ROUTING = RoutingSettings()
# Modest counts: two stores × two properties stay within a few seconds each.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every code point, surrogates and NUL included, with the troublesome ones made likely.
characters = st.characters(exclude_categories=()) | st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\ud83d", "\ude00", "\ufeff", '"', "\\", "["]
)
# text() never yields a surrogate, whatever its alphabet: join the characters ourselves.
# Two clean strings for one that may carry anything, so that many records reach the store.
strings = st.one_of(
    st.text(max_size=40), st.text(max_size=40), st.lists(characters, max_size=40).map("".join)
)
numbers = (
    st.integers()
    | st.integers(min_value=10**98, max_value=10**101)
    | st.floats(allow_nan=True, allow_infinity=True)
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | strings,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(strings, children, max_size=4)
    ),
    max_leaves=12,
)
documents = st.fixed_dictionaries(
    {"id": st.one_of(strings, strings, json_values), "text": st.one_of(strings, json_values)},
    optional={
        "source": strings | json_values,
        "created_at": strings | st.text(max_size=80),
        "meta": st.dictionaries(strings, json_values, max_size=4) | json_values,
        "extra": json_values,
    },
)


@st.composite
def json_values_as_bytes(draw: st.DrawFn) -> bytes:
    document = draw(st.one_of(documents, documents, documents, json_values))
    text = json.dumps(document, ensure_ascii=draw(st.booleans()), allow_nan=True)
    if draw(st.integers(0, 3)) == 0:  # nest it deeper, around the limit or far past it
        depth = draw(st.integers(50, 70) | st.integers(1, 1200))
        text = '{"id":"deep","text":"x","n":' + "[" * depth + text + "]" * depth + "}"
    return text.encode("utf-8", "surrogatepass")


def _record(offset: int, value: bytes) -> Record:
    return Record("feedback", 0, offset, None, value)


@pytest.fixture
def pipeline(store_url, model_factory):
    engine = make_engine(store_url)
    classifier = load_classifier(model_factory(0).path)
    producer = FakeProducer()
    checkpoint = Checkpoint(
        engine=engine,
        sink=FakeEscalationSink(),
        producer=producer,
        consumer=FakeConsumer(),
        topics=KafkaSettings(),
    )

    def run(values: list[bytes]) -> None:
        records = [_record(i, value) for i, value in enumerate(values)]
        outcome = process_batch(records, classifier, ROUTING, LIMITS)
        checkpoint.complete(outcome, {Partition("feedback", 0): len(values)})
        assert len(outcome.records) + len(outcome.dead_letters) == len(values)
        assert "store_rejected" not in {letter.reason for letter in outcome.dead_letters}
        assert len(outcome.events) == len(outcome.records)
        event("some records stored" if outcome.records else "all dead-lettered")
        for letter in outcome.dead_letters:
            event(f"reason {letter.reason}")

    yield run
    engine.dispose()


@FUZZ
@given(values=st.lists(json_values_as_bytes(), min_size=1, max_size=8))
def test_arbitrary_json_is_stored_or_dead_lettered(pipeline, values):
    pipeline(values)


@FUZZ
@given(values=st.lists(st.binary(max_size=200), min_size=1, max_size=8))
def test_arbitrary_bytes_are_stored_or_dead_lettered(pipeline, values):
    pipeline(values)

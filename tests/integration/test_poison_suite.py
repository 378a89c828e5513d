"""Done-when of issue 7: poison records interleaved with good ones, through the real
`sieve stream` process, the real broker and PostgreSQL. Every bad record lands in the DLQ
with its reason, every good one is stored once with one label event, the worker never
exits on any of them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from sqlalchemy import select

from sieve.core.events import LabelEvent
from sieve.store.columns import MESSAGE_FIELD_CHARS
from sieve.store.engine import make_engine
from sieve.store.tables import messages, predictions
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from tests.integration.conftest import activate, read_topic, stream_env

MAX_REQUEST_BYTES = 100_000  # the worker's producer limit in this test


def _doc(**fields: object) -> bytes:
    return json.dumps({"id": "p", "text": "x", **fields}).encode()


NINES = b"9" * 5000
# (kind, value, expected reason). Each kind is a different way to break a record.
POISON: list[tuple[str, bytes | None, str]] = [
    ("tombstone (no value)", None, "null_value"),
    ("empty value", b"", "not_json"),
    ("broken JSON", b"{not json", "not_json"),
    ("unterminated string", b'{"id": "a", "text": "open', "not_json"),
    ("UTF-8 BOM before JSON", b'\xef\xbb\xbf{"id":"bom","text":"x"}', "not_json"),
    ("raw control character in a string", b'{"id":"c","text":"a\x01b"}', "not_json"),
    ("latin-1 byte", b'{"id": "l1", "text": "caf\xe9"}', "not_utf8"),
    ("encoded surrogate (CESU-8)", b'{"id":"s8","text":"\xed\xa0\x80"}', "not_utf8"),
    ("array", b"[1, 2, 3]", "not_object"),
    ("bare string", b'"just text"', "not_object"),
    ("990-deep nesting", b'{"id":"d","text":"x","n":' + b"[" * 990 + b"]" * 990 + b"}", "too_deep"),
    ("deep meta", b'{"id":"dm","text":"x","meta":' + b'{"a":' * 80 + b"1" + b"}" * 81, "too_deep"),
    ("5000-digit integer", b'{"id":"big","text":"x","n":' + NINES + b"}", "number_too_large"),
    ("float overflow 1e400", b'{"id":"f","text":"x","n":1e400}', "not_finite"),
    ("NaN in meta", b'{"id":"nan","text":"x","meta":{"v":NaN}}', "not_finite"),
    ("Infinity in meta", b'{"id":"inf","text":"x","meta":{"v":Infinity}}', "not_finite"),
    ("-Infinity at top level", b'{"id":"ninf","text":"x","n":-Infinity}', "not_finite"),
    ("NUL in text", b'{"id":"n1","text":"a\\u0000b"}', "nul_char"),
    ("NUL in id", b'{"id":"n2\\u0000","text":"x"}', "nul_char"),
    ("NUL in a meta key", b'{"id":"n3","text":"x","meta":{"k\\u0000":1}}', "nul_char"),
    ("lone surrogate in text", b'{"id":"u1","text":"a\\ud800b"}', "lone_surrogate"),
    ("lone surrogate in id", b'{"id":"u2\\udc00","text":"x"}', "lone_surrogate"),
    ("lone surrogate in meta", b'{"id":"u3","text":"x","meta":{"k":"\\udfff"}}', "lone_surrogate"),
    ("no id", b'{"text": "no id"}', "bad_id"),
    ("numeric id", b'{"id": 42, "text": "x"}', "bad_id"),
    ("blank id", b'{"id": "  ", "text": "x"}', "bad_id"),
    ("no text", b'{"id": "nt"}', "bad_text"),
    ("object text", b'{"id": "ot", "text": {"a": 1}}', "bad_text"),
    ("empty text", b'{"id": "et", "text": ""}', "empty_text"),
    ("whitespace text", b'{"id": "wt", "text": " \\n\\t "}', "empty_text"),
    ("text over 10k chars", _doc(id="tl", text="y" * 10_001), "text_too_long"),
    ("id over its column", _doc(id="i" * (MESSAGE_FIELD_CHARS["id"] + 1)), "field_too_long"),
    ("source over its column", _doc(source="s" * 129), "field_too_long"),
    ("created_at over its bound", _doc(created_at="2026" * 20), "field_too_long"),
    ("numeric source", _doc(source=7), "bad_field"),
    ("list meta", _doc(meta=[1]), "bad_field"),
    ("over max_message_bytes", _doc(id="h", text="z" * 70_000), "too_large"),
    ("too large to re-send as is", _doc(id="r", text="w" * 150_000), "too_large"),
]
GOOD = 300


def _stream(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sieve.cli", "stream", "--idle-timeout-s", "10"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_poison_suite(settings, model_factory):
    assert len({kind for kind, _, _ in POISON}) == len(POISON) >= 25
    activate(settings.database_url, model_factory(0))
    kafka = settings.kafka
    # Good messages with poison interleaved: one poison record after every 8 good ones.
    plan: list[tuple[str | None, bytes | None, list]] = []
    poison = iter(POISON)
    for i in range(GOOD):
        plan.append(
            (None, json.dumps({"id": f"good-{i}", "text": f"lost my card {i}"}).encode(), [])
        )
        if i % 8 == 7:
            kind, value, _ = next(poison, (None, None, None))
            if kind is not None:
                plan.append((kind, value, [("trace-id", f"t{i}".encode())]))
    plan += [(kind, value, [("trace-id", b"tail")]) for kind, value, _ in poison]
    ensure_topics(kafka)
    producer = make_producer(kafka.model_copy(update={"max_request_size_bytes": 1_048_576}))
    for kind, value, headers in plan:
        key = None if kind is None else kind.encode()
        producer.send(kafka.input_topic, key=key or b"good", value=value, headers=headers)
    producer.flush()
    producer.close()

    env = stream_env(
        settings,
        KAFKA__MAX_BATCH_SIZE="50",
        KAFKA__MAX_REQUEST_SIZE_BYTES=str(MAX_REQUEST_BYTES),
    )
    worker = _stream(env)
    _, stderr = worker.communicate(timeout=300)
    assert worker.returncode == 0, stderr.decode()[-3000:]

    # Every bad record in the DLQ once, with its reason, its key and its own headers.
    expected = {kind: reason for kind, _, reason in POISON}
    dlq = read_topic(kafka, kafka.dlq_topic)
    got = Counter((r.key.decode(), dict(r.headers)["sieve.reason"].decode()) for r in dlq)
    assert got == Counter(expected.items())
    for record in dlq:
        headers = dict(record.headers)
        assert headers["sieve.source.topic"] == kafka.input_topic.encode()
        assert headers["trace-id"].startswith(b"t")
        assert len(record.value or b"") < MAX_REQUEST_BYTES
    cut = next(r for r in dlq if r.key == b"too large to re-send as is")
    assert (
        cut.value.startswith(b'{"id": "r", "text": "www')
        and b"150" in dict(cut.headers)["sieve.detail"]
    )

    # Every good one stored once, with one label event.
    good_ids = {f"good-{i}" for i in range(GOOD)}
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:
        rows = Counter(conn.execute(select(predictions.c.message_id)).scalars())
        stored = set(conn.execute(select(messages.c.id)).scalars())
    engine.dispose()
    assert set(rows) == stored == good_ids and max(rows.values()) == 1
    events = Counter(LabelEvent.decode(r.value).id for r in read_topic(kafka, kafka.labels_topic))
    assert set(events) == good_ids and max(events.values()) == 1

"""Finding 1 and item 2 of issue 7: poison records the decoder must dead-letter, never raise on."""

import json

import pytest

from sieve.core.errors import BadMessage
from sieve.core.settings import StreamSettings
from sieve.store.columns import MESSAGE_FIELD_CHARS
from sieve.workers.stream.messages import DeadLetterReason, decode_message

LIMITS = StreamSettings()


def _doc(**fields: object) -> bytes:
    return json.dumps({"id": "p", "text": "x", **fields}).encode()


POISON = [
    # Nesting: RecursionError at ~990 levels before the fix; anything past the limit is refused.
    (b'{"id":"p","text":"x","n":' + b"[" * 5000 + b"]" * 5000 + b"}", "too_deep"),
    (b'{"id":"p","text":"x","meta":' + b'{"a":' * 100 + b"1" + b"}" * 101, "too_deep"),
    (b"[" * 50_000, "too_deep"),
    # Python's int() refuses 4300+ digits with ValueError; a float overflows to inf.
    (b'{"id":"p","text":"x","n":' + b"9" * 5000 + b"}", "number_too_large"),
    (b'{"id":"p","text":"x","n":-' + b"9" * 5000 + b"}", "number_too_large"),
    (b'{"id":"p","text":"x","n":1e400}', "not_finite"),
    (b'{"id":"p","text":"x","meta":{"v":NaN}}', "not_finite"),
    (b'{"id":"p","text":"x","meta":{"v":Infinity}}', "not_finite"),
    (b'{"id":"p","text":"x","n":-Infinity}', "not_finite"),
    # Lone surrogates: UnicodeEncodeError in the store before the fix.
    (b'{"id":"p","text":"a\\ud800b"}', "lone_surrogate"),
    (b'{"id":"\\udc00","text":"x"}', "lone_surrogate"),
    (b'{"id":"p","text":"x","meta":{"k":["\\ud83d"]}}', "lone_surrogate"),
    (b'{"id":"p","text":"x","meta":{"\\udfff":1}}', "lone_surrogate"),
    # NUL: PostgreSQL text cannot hold it.
    (b'{"id":"p","text":"a\\u0000b"}', "nul_char"),
    (b'{"id":"p\\u0000","text":"x"}', "nul_char"),
    (b'{"id":"p","text":"x","source":"\\u0000"}', "nul_char"),
    (b'{"id":"p","text":"x","meta":{"k\\u0000":1}}', "nul_char"),
    # Longer than the column that stores them.
    (_doc(id="i" * (MESSAGE_FIELD_CHARS["id"] + 1)), "field_too_long"),
    (_doc(source="s" * (MESSAGE_FIELD_CHARS["source"] + 1)), "field_too_long"),
    (_doc(created_at="c" * (MESSAGE_FIELD_CHARS["created_at"] + 1)), "field_too_long"),
]


@pytest.mark.parametrize(("value", "reason"), POISON)
def test_poison_is_refused_with_its_reason(value, reason):
    with pytest.raises(BadMessage) as caught:
        decode_message(value, LIMITS)
    assert caught.value.reason == reason


def test_paired_surrogates_and_escaped_text_are_fine():
    message = decode_message(b'{"id":"p","text":"\\ud83d\\ude00 \\u00e9","n":1e300}', LIMITS)
    assert message.text == "\U0001f600 é"


def test_depth_at_the_limit_is_accepted():
    depth = LIMITS.max_json_depth
    # The document itself is level 1; meta's nesting takes the rest.
    meta = b'{"a":' * (depth - 2) + b"1" + b"}" * (depth - 2)
    message = decode_message(b'{"id":"p","text":"x","meta":' + meta + b"}", LIMITS)
    assert message.meta is not None


def test_brackets_inside_strings_do_not_count_as_depth():
    text = "[" * 5000
    assert decode_message(_doc(text=text), LIMITS).text == text


def test_id_limit_never_exceeds_the_column():
    wide = StreamSettings(max_id_chars=10_000)
    with pytest.raises(BadMessage) as caught:
        decode_message(_doc(id="i" * (MESSAGE_FIELD_CHARS["id"] + 1)), wide)
    assert caught.value.reason == "field_too_long"


def test_every_reason_is_a_closed_set_member():
    reasons = {reason for _, reason in POISON}
    assert reasons <= {member.value for member in DeadLetterReason}

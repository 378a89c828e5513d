import json

import pytest

from sieve.core.errors import BadMessage
from sieve.core.settings import StreamSettings
from sieve.workers.stream.messages import decode_message

LIMITS = StreamSettings(max_message_bytes=200, max_text_chars=50, max_id_chars=10)


def test_valid_message_with_optional_fields():
    value = json.dumps(
        {"id": "m1", "text": "héllo", "source": "app", "meta": {"k": 1}, "extra": True}
    ).encode()
    message = decode_message(value, LIMITS)
    assert (message.id, message.text, message.source, message.meta) == (
        "m1",
        "héllo",
        "app",
        {"k": 1},
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "null_value"),
        (b"x" * 201, "too_large"),
        (b'{"id": "a", "text": "\xff"}', "not_utf8"),
        (b"{not json", "not_json"),
        (b"", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'"a string"', "not_object"),
        (b'{"text": "no id"}', "bad_id"),
        (b'{"id": 5, "text": "numeric id"}', "bad_id"),
        (b'{"id": "", "text": "empty id"}', "bad_id"),
        (b'{"id": "01234567890", "text": "id too long"}', "field_too_long"),
        (b'{"id": "a"}', "bad_text"),
        (b'{"id": "a", "text": null}', "bad_text"),
        (b'{"id": "a", "text": ["list"]}', "bad_text"),
        (b'{"id": "a", "text": "  \\n "}', "empty_text"),
        (json.dumps({"id": "a", "text": "x" * 51}).encode(), "text_too_long"),
        (b'{"id": "a", "text": "t", "source": 3}', "bad_field"),
        (b'{"id": "a", "text": "t", "meta": "not an object"}', "bad_field"),
    ],
)
def test_bad_messages_name_their_reason(value, reason):
    with pytest.raises(BadMessage) as caught:
        decode_message(value, LIMITS)
    assert caught.value.reason == reason
    assert str(caught.value).startswith(reason)

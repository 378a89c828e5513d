"""Decode and validate one stream message. Anything that fails here goes to the DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sieve.core.errors import BadMessage
from sieve.core.settings import StreamSettings

_OPTIONAL_STRINGS = ("source", "created_at")


@dataclass(frozen=True)
class FeedbackMessage:
    id: str
    text: str
    source: str | None = None
    created_at: str | None = None
    meta: dict[str, Any] | None = None


def decode_message(value: bytes | None, limits: StreamSettings) -> FeedbackMessage:
    """Parse a record value into a FeedbackMessage, or raise BadMessage with a reason."""
    if value is None:
        raise BadMessage("null_value", "the record has no value")
    if len(value) > limits.max_message_bytes:
        raise BadMessage("too_large", f"{len(value)} bytes > {limits.max_message_bytes}")
    try:
        document = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadMessage("not_utf8", f"invalid byte at position {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise BadMessage("not_json", f"{exc.msg} at position {exc.pos}") from exc
    if not isinstance(document, dict):
        raise BadMessage("not_object", f"expected a JSON object, got {type(document).__name__}")
    return FeedbackMessage(
        id=_message_id(document, limits),
        text=_message_text(document, limits),
        meta=_meta(document),
        **{name: _optional_string(document, name) for name in _OPTIONAL_STRINGS},
    )


def _message_id(document: dict[str, Any], limits: StreamSettings) -> str:
    value = document.get("id")
    if not isinstance(value, str):
        raise BadMessage("bad_id", f"'id' must be a string, got {_kind(value)}")
    if not value.strip():
        raise BadMessage("bad_id", "'id' is empty")
    if len(value) > limits.max_id_chars:
        raise BadMessage("bad_id", f"'id' has {len(value)} characters > {limits.max_id_chars}")
    return value


def _message_text(document: dict[str, Any], limits: StreamSettings) -> str:
    value = document.get("text")
    if not isinstance(value, str):
        raise BadMessage("bad_text", f"'text' must be a string, got {_kind(value)}")
    if not value.strip():
        raise BadMessage("empty_text", "'text' is empty")
    if len(value) > limits.max_text_chars:
        raise BadMessage(
            "text_too_long", f"'text' has {len(value)} characters > {limits.max_text_chars}"
        )
    return value


def _optional_string(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and not isinstance(value, str):
        raise BadMessage("bad_field", f"{name!r} must be a string, got {_kind(value)}")
    return value


def _meta(document: dict[str, Any]) -> dict[str, Any] | None:
    value = document.get("meta")
    if value is not None and not isinstance(value, dict):
        raise BadMessage("bad_field", f"'meta' must be an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__

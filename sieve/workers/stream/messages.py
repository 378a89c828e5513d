"""Decode and validate one stream message. Anything that fails here goes to the DLQ.

The decoder accepts only what every store can hold, so a batch of decoded messages never
fails in the database for its content:

1. the record has a value, no longer than ``max_message_bytes``;
2. the value is UTF-8 (which cannot carry a surrogate) and parses as JSON;
3. nesting is no deeper than ``max_json_depth`` (checked before parsing: Python's parser
   recurses and raises RecursionError at ~1000 levels);
4. numbers are finite (Python's json accepts NaN and Infinity; PostgreSQL does not, and
   1e400 parses to inf) and integers have at most MAX_INTEGER_DIGITS digits (int() refuses
   4300 digits, and a value that cannot be read back must not be stored);
5. no string, key or value, anywhere in the document, holds NUL (PostgreSQL text cannot)
   or a lone surrogate (UTF-8 cannot encode one);
6. `id` and `text` are non-empty strings, `source`/`created_at` strings, `meta` an object,
   each field within its column's length (sieve.store.columns.MESSAGE_FIELD_CHARS).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from itertools import accumulate
from typing import Any, NoReturn

from sieve.core.errors import BadMessage
from sieve.core.settings import StreamSettings
from sieve.store.columns import MESSAGE_FIELD_CHARS

# No feedback metadata needs more; far below the 4300 digits where int() gives up.
MAX_INTEGER_DIGITS = 100

_OPTIONAL_STRINGS = ("source", "created_at")
# A JSON string (escapes included) or one bracket: strings are skipped when counting depth.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class DeadLetterReason(StrEnum):
    """Why a record went to the dead-letter topic (its `sieve.reason` header)."""

    NULL_VALUE = "null_value"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    TOO_DEEP = "too_deep"
    NUMBER_TOO_LARGE = "number_too_large"
    NOT_FINITE = "not_finite"
    NUL_CHAR = "nul_char"
    LONE_SURROGATE = "lone_surrogate"
    BAD_ID = "bad_id"
    BAD_TEXT = "bad_text"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    FIELD_TOO_LONG = "field_too_long"
    BAD_FIELD = "bad_field"
    # Not from the decoder: the store refused the record (see checkpoint.py).
    STORE_REJECTED = "store_rejected"


@dataclass(frozen=True)
class FeedbackMessage:
    id: str
    text: str
    source: str | None = None
    created_at: str | None = None
    meta: dict[str, Any] | None = None


def _refuse(reason: DeadLetterReason, detail: str) -> NoReturn:
    raise BadMessage(reason, detail)


def decode_message(value: bytes | None, limits: StreamSettings) -> FeedbackMessage:
    """Parse a record value into a FeedbackMessage, or raise BadMessage with a reason."""
    if value is None:
        _refuse(DeadLetterReason.NULL_VALUE, "the record has no value")
    if len(value) > limits.max_message_bytes:
        _refuse(DeadLetterReason.TOO_LARGE, f"{len(value)} bytes > {limits.max_message_bytes}")
    _check_depth(value, limits.max_json_depth)
    document = _parse(value)
    if not isinstance(document, dict):
        _refuse(DeadLetterReason.NOT_OBJECT, f"expected a JSON object, got {_kind(document)}")
    # NUL and lone surrogates can only arrive as \u escapes: strict JSON refuses a raw
    # control character in a string, and strict UTF-8 refuses an encoded surrogate.
    if b"\\u" in value:
        _check_strings(document)
    return FeedbackMessage(
        id=_message_id(document, limits),
        text=_message_text(document, limits),
        meta=_meta(document),
        **{name: _optional_string(document, name) for name in _OPTIONAL_STRINGS},
    )


def _check_depth(value: bytes, max_depth: int) -> None:
    # Counting brackets in C is enough for almost every message; only one with more
    # brackets than the limit is scanned in Python.
    if value.count(b"[") + value.count(b"{") <= max_depth:
        return
    steps = (
        _DEPTH_STEP[match.group()[0]]
        for match in _STRING_OR_BRACKET.finditer(value)
        if match.group()[0] != ord('"')
    )
    depth = max(accumulate(steps, initial=0))
    if depth > max_depth:
        _refuse(DeadLetterReason.TOO_DEEP, f"nesting reaches {depth} levels > {max_depth}")


def _parse(value: bytes) -> Any:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        _refuse(DeadLetterReason.NOT_UTF8, f"invalid byte at position {exc.start}")
    try:
        return json.loads(
            text, parse_int=_integer, parse_float=_finite_float, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        _refuse(DeadLetterReason.NOT_JSON, f"{exc.msg} at position {exc.pos}")
    except RecursionError:  # the depth check should have caught it; never crash on it
        _refuse(DeadLetterReason.TOO_DEEP, "nesting exceeds the parser's recursion limit")


def _integer(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        _refuse(
            DeadLetterReason.NUMBER_TOO_LARGE,
            f"an integer has {digits} digits > {MAX_INTEGER_DIGITS}",
        )
    return int(text)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        _refuse(DeadLetterReason.NOT_FINITE, f"{text[:40]} is out of range")
    return number


def _no_constant(name: str) -> NoReturn:
    _refuse(DeadLetterReason.NOT_FINITE, f"{name} is not a number every store can hold")


def _check_strings(document: dict[str, Any]) -> None:
    pending: list[Any] = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _check_string(value: str) -> None:
    if "\x00" in value:
        _refuse(DeadLetterReason.NUL_CHAR, "a string holds NUL (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        _refuse(
            DeadLetterReason.LONE_SURROGATE,
            f"a string holds a lone surrogate \\u{ord(value[exc.start]):04x}",
        )


def _message_id(document: dict[str, Any], limits: StreamSettings) -> str:
    value = document.get("id")
    if not isinstance(value, str):
        _refuse(DeadLetterReason.BAD_ID, f"'id' must be a string, got {_kind(value)}")
    if not value.strip():
        _refuse(DeadLetterReason.BAD_ID, "'id' is empty")
    _check_length("id", value, min(limits.max_id_chars, MESSAGE_FIELD_CHARS["id"]))
    return value


def _message_text(document: dict[str, Any], limits: StreamSettings) -> str:
    value = document.get("text")
    if not isinstance(value, str):
        _refuse(DeadLetterReason.BAD_TEXT, f"'text' must be a string, got {_kind(value)}")
    if not value.strip():
        _refuse(DeadLetterReason.EMPTY_TEXT, "'text' is empty")
    if len(value) > limits.max_text_chars:
        _refuse(
            DeadLetterReason.TEXT_TOO_LONG,
            f"'text' has {len(value)} characters > {limits.max_text_chars}",
        )
    return value


def _optional_string(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        _refuse(DeadLetterReason.BAD_FIELD, f"{name!r} must be a string, got {_kind(value)}")
    _check_length(name, value, MESSAGE_FIELD_CHARS[name])
    return value


def _check_length(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        _refuse(DeadLetterReason.FIELD_TOO_LONG, f"{name!r} has {len(value)} characters > {limit}")


def _meta(document: dict[str, Any]) -> dict[str, Any] | None:
    value = document.get("meta")
    if value is not None and not isinstance(value, dict):
        _refuse(DeadLetterReason.BAD_FIELD, f"'meta' must be an object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__

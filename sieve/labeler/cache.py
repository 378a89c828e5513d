"""Exact answer cache: the same text, prompt version, model and parameters → the same answer.

Keys are sha256 over (normalised text, prompt version, model, parameters JSON, label
set), so a message that differs only in case, Unicode form or spacing is a hit, while
any change of prompt wording (a new version), model, temperature or label set is a miss
(the label list is part of the rendered prompt: a new label can change the answer). Only validated
labels are stored; errors never are. Entries do not expire unless ``ttl_s`` is given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import unicodedata
from collections.abc import Sequence
from typing import Protocol

import redis

from sieve.core.errors import TransientError
from sieve.labeler.answer import LLMAnswer

logger = logging.getLogger(__name__)


class CacheUnavailable(TransientError):
    """The cache could not be read: retry later rather than pay for a call it may hold."""


def normalise_text(text: str) -> str:
    """NFKC, lower case, runs of whitespace collapsed to one space, ends stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def cache_key(
    text: str, prompt_version: str, model: str, params_json: str, labels: Sequence[str]
) -> str:
    """Hex sha256 of the parts, JSON-encoded so no separator can be forged."""
    parts = [normalise_text(text), prompt_version, model, params_json, list(labels)]
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def decode_entry(value: str | bytes | None, where: str) -> LLMAnswer | None:
    """A stored entry as an answer; an unreadable one is a miss (and a warning)."""
    if value is None:
        return None
    try:
        return LLMAnswer.from_json(value)
    except ValueError:
        logger.warning("ignoring an unreadable cache entry %s", where)
        return None


class AnswerCache(Protocol):
    def get(self, key: str) -> LLMAnswer | None: ...

    def put(self, key: str, answer: LLMAnswer) -> None: ...


class InMemoryAnswerCache:
    """A dict behind a lock: for unit tests and one-process tools."""

    def __init__(self) -> None:
        self._answers: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> LLMAnswer | None:
        with self._lock:
            value = self._answers.get(key)
        return LLMAnswer.from_json(value) if value is not None else None

    def put(self, key: str, answer: LLMAnswer) -> None:
        with self._lock:
            self._answers[key] = answer.to_json()

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)


class RedisAnswerCache:
    """Answers as JSON strings under ``<prefix><key>``; no expiry unless ``ttl_s``."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int | None = None) -> None:
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError("ttl_s must be positive (or None: never expire)")
        self._redis = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def get(self, key: str) -> LLMAnswer | None:
        try:
            value = self._redis.get(self.prefix + key)
        except redis.RedisError as exc:
            raise CacheUnavailable(f"answer cache unavailable: {type(exc).__name__}") from exc
        return decode_entry(value, self.prefix + key)

    def put(self, key: str, answer: LLMAnswer) -> None:
        # The answer is paid for and returned to the caller either way: a cache that cannot
        # be written costs a future call, which beats failing (and re-paying) this one.
        try:
            self._redis.set(self.prefix + key, answer.to_json(), ex=self.ttl_s)
        except redis.RedisError as exc:
            logger.warning("could not cache answer %s%s: %s", self.prefix, key, exc)

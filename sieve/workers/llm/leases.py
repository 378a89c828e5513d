"""What the workers coordinate through: leases (enqueue markers, label locks) and the
LLM answer cache. In Redis when the broker is Redis, in the database otherwise, so the
whole system runs with no server but the Kafka broker and a SQLite file."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Protocol

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from sieve.core.errors import TransientError
from sieve.labeler.answer import LLMAnswer
from sieve.labeler.cache import CacheUnavailable, decode_entry
from sieve.store.coordination import acquire_lease, get_answer, put_answer, release_lease

logger = logging.getLogger(__name__)

# Compare-and-delete: only the holder's token releases a lease.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


class Leases(Protocol):
    def acquire(self, name: str, ttl_s: int) -> str | None:
        """A token when ``name`` was free (or its lease expired), None when it is held."""
        ...

    def release(self, name: str, token: str) -> None:
        """Free ``name`` if ``token`` still holds it; a lease that expired is left alone."""
        ...

    def acquire_many(self, names: Sequence[str], ttl_s: int) -> list[str | None]:
        """``acquire`` for each name, in order (one round trip where the backend allows)."""
        ...


class RedisLeases:
    """``SET <prefix><name> <token> NX EX ttl``."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def acquire(self, name: str, ttl_s: int) -> str | None:
        token = uuid.uuid4().hex
        try:
            taken = self._redis.set(self._prefix + name, token, nx=True, ex=ttl_s)
        except redis.RedisError as exc:
            raise TransientError(f"Redis unavailable for lease {name}: {exc}") from exc
        return token if taken else None

    def acquire_many(self, names: Sequence[str], ttl_s: int) -> list[str | None]:
        """One pipeline of ``SET NX EX``: the stream worker takes a marker per escalation of
        a batch, and a round trip each was a sixth of its time spent enqueueing (py-spy)."""
        tokens = [uuid.uuid4().hex for _ in names]
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for name, token in zip(names, tokens, strict=True):
                    pipe.set(self._prefix + name, token, nx=True, ex=ttl_s)
                taken = pipe.execute()
        except redis.RedisError as exc:
            raise TransientError(f"Redis unavailable for {len(names)} leases: {exc}") from exc
        return [token if ok else None for token, ok in zip(tokens, taken, strict=True)]

    def release(self, name: str, token: str) -> None:
        try:
            self._redis.eval(_RELEASE, 1, self._prefix + name, token)
        except redis.RedisError as exc:  # it expires on its own
            logger.warning("could not release lease %s: %s", name, exc)


class StoreLeases:
    """Rows of the ``locks`` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def acquire(self, name: str, ttl_s: int) -> str | None:
        token = uuid.uuid4().hex
        try:
            taken = acquire_lease(self._engine, name, token, ttl_s)
        except OperationalError as exc:
            raise TransientError(f"database unavailable for lease {name}: {exc}") from exc
        return token if taken else None

    def acquire_many(self, names: Sequence[str], ttl_s: int) -> list[str | None]:
        return [self.acquire(name, ttl_s) for name in names]

    def release(self, name: str, token: str) -> None:
        try:
            release_lease(self._engine, name, token)
        except OperationalError as exc:
            logger.warning("could not release lease %s: %s", name, exc)


class StoreAnswerCache:
    """The AnswerCache role over the ``llm_answers`` table."""

    def __init__(self, engine: Engine, ttl_s: int | None = None) -> None:
        self._engine = engine
        self.ttl_s = ttl_s

    def get(self, key: str) -> LLMAnswer | None:
        try:
            value = get_answer(self._engine, key)
        except OperationalError as exc:
            raise CacheUnavailable(f"answer cache unavailable: {type(exc).__name__}") from exc
        return decode_entry(value, f"llm_answers[{key}]")

    def put(self, key: str, answer: LLMAnswer) -> None:
        # As with Redis: a cache that cannot be written costs a future call, nothing more.
        try:
            put_answer(self._engine, key, answer.to_json(), self.ttl_s)
        except OperationalError as exc:
            logger.warning("could not cache answer %s: %s", key, exc)

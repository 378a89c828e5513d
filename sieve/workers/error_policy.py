"""The stream worker's error policy, in one place (after quix-streams' error callbacks).

Third-party exceptions are translated where they arise (the store in
sieve.store.repository, Kafka in sieve.workers.kafka_adapter, the task queue in
escalation.py), so the loop sees only Sieve's two kinds and decides by kind:

- TransientError (database, Kafka or task broker unavailable, a rebalance): nothing is
  committed; the batch is rewound and retried with capped exponential back-off and jitter
  for as long as the outage lasts. The worker never exits on it, at start-up either: it
  logs what it waits for.
- PermanentError for a record (BadMessage from the decoder, StoreRejected narrowed down to
  its records, RecordTooLarge for a dead letter): that record goes to the DLQ with a reason
  and the rest of the batch commits. It is never retried.
- Anything else is a bug: it propagates, and a supervisor restarts the worker from the
  last commit.

``classify`` is the safety net at the loop: a third-party "unavailable" error that escaped
a boundary untranslated (a store function reading through its own connection, say) is
still transient there, so no code path can turn an outage into an exit.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

import redis
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy.exc import InterfaceError as DBInterfaceError
from sqlalchemy.exc import OperationalError as DBOperationalError

from sieve.core.errors import SieveError, TransientError
from sieve.workers.kafka_adapter import translate_error

logger = logging.getLogger(__name__)

T = TypeVar("T")

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


def classify(exc: Exception) -> SieveError | None:
    """Sieve's kind of ``exc``: itself for a SieveError, the translation of a known
    third-party error, None for anything else (a bug: let it propagate)."""
    if isinstance(exc, SieveError):
        return exc
    kafka = translate_error(exc)
    if kafka is not None:
        return kafka
    if isinstance(exc, (DBOperationalError, DBInterfaceError)):
        return TransientError(f"database unavailable: {type(exc).__name__}")
    if isinstance(exc, (redis.RedisError, KombuOperationalError)):
        return TransientError(f"task broker unavailable: {exc}")
    return None


class Backoff:
    """Capped exponential back-off. With ``jitter``, each wait is drawn from [d/2, d] so
    that workers restarted together do not retry in lockstep."""

    def __init__(
        self,
        initial_s: float = INITIAL_BACKOFF_S,
        cap_s: float = MAX_BACKOFF_S,
        *,
        jitter: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self._initial_s = initial_s
        self._cap_s = cap_s
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._next_s = initial_s

    def next_delay_s(self) -> float:
        delay = self._next_s
        self._next_s = min(self._next_s * 2, self._cap_s)
        return self._rng.uniform(delay / 2, delay) if self._jitter else delay

    def reset(self) -> None:
        self._next_s = self._initial_s


def retry_transient(
    action: Callable[[], T],
    what: str,
    *,
    sleep: Callable[[float], None],
    backoff: Backoff | None = None,
) -> T:
    """Run ``action`` until it does not raise TransientError; log each wait."""
    backoff = backoff or Backoff(jitter=True)
    while True:
        try:
            return action()
        except TransientError as exc:
            delay_s = backoff.next_delay_s()
            logger.warning("waiting for %s (%s): retrying in %.1fs", what, exc, delay_s)
            sleep(delay_s)

"""Global LLM limits shared by every worker: requests and tokens per minute, USD per hour
and per day. Each limit counts in fixed UTC windows (a minute, an hour, a day); a request
reserves its estimated charge in every window it falls in before it is sent, and is
settled with what the endpoint reported once answered. A reservation is refused while a
window is already at its capacity, so a limit is exceeded by at most one request."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import redis
from sqlalchemy import Engine

from sieve.core.errors import TransientError
from sieve.core.settings import Settings
from sieve.store.spend import CounterAdd, add_to_counters, read_counters


class LimitName(StrEnum):
    REQUESTS_PER_MINUTE = "requests_per_minute"
    TOKENS_PER_MINUTE = "tokens_per_minute"
    USD_PER_HOUR = "usd_per_hour"
    USD_PER_DAY = "usd_per_day"


# What each limit counts, and its window.
_UNIT = {
    LimitName.REQUESTS_PER_MINUTE: ("requests", 60),
    LimitName.TOKENS_PER_MINUTE: ("tokens", 60),
    LimitName.USD_PER_HOUR: ("usd", 3_600),
    LimitName.USD_PER_DAY: ("usd", 86_400),
}


@dataclass(frozen=True)
class Charge:
    """What one request costs, estimated before it is sent or reported after."""

    requests: float = 1.0
    tokens: float = 0.0
    usd: float = 0.0

    def of(self, name: LimitName) -> float:
        amount: float = getattr(self, _UNIT[name][0])
        return amount


@dataclass(frozen=True)
class Limit:
    name: LimitName
    capacity: float

    @property
    def window_s(self) -> int:
        return _UNIT[self.name][1]

    @property
    def is_budget(self) -> bool:
        """A spend budget (renews in an hour or a day) rather than a rate limit."""
        return _UNIT[self.name][0] == "usd"

    def key(self, now: float) -> str:
        return f"{self.name.value}:{int(now // self.window_s)}"

    def resets_at(self, now: float) -> float:
        return (int(now // self.window_s) + 1) * self.window_s


def limits_from(settings: Settings) -> list[Limit]:
    configured = {
        LimitName.REQUESTS_PER_MINUTE: settings.llm.max_requests_per_minute,
        LimitName.TOKENS_PER_MINUTE: settings.llm.max_tokens_per_minute,
        LimitName.USD_PER_HOUR: settings.budget.usd_per_hour,
        LimitName.USD_PER_DAY: settings.budget.usd_per_day,
    }
    return [Limit(name, float(cap)) for name, cap in configured.items() if cap is not None]


class OverLimit(TransientError):
    """A limit has no room left in its window: try again at ``retry_at`` (epoch seconds)."""

    def __init__(self, limit: Limit, retry_at: float) -> None:
        kind = "budget" if limit.is_budget else "rate limit"
        super().__init__(f"LLM {kind} {limit.name.value}={limit.capacity:g} reached")
        self.limit = limit
        self.retry_at = retry_at

    @property
    def retry_after_s(self) -> float:
        """Seconds until the window renews (the task retries after them)."""
        return max(self.retry_at - time.time(), 0.0) + 1.0


class Counters(Protocol):
    """Shared counters by key: Redis, or the store."""

    def add(self, adds: Sequence[CounterAdd]) -> int | None:
        """All adds or none; the index of the first refused (counter at its ``below``)."""

    def read(self, keys: Sequence[str]) -> dict[str, float]: ...


@dataclass(frozen=True)
class Reservation:
    keys: tuple[tuple[Limit, str], ...]
    charge: Charge


@dataclass(frozen=True)
class LimitState:
    name: str
    capacity: float
    spent: float
    remaining: float
    resets_at: float


class Budget:
    """Reserve before a request, settle after it; ``state`` for /stats and `sieve costs`."""

    def __init__(
        self,
        limits: Sequence[Limit],
        counters: Counters,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = tuple(limits)
        self._counters = counters
        self.clock = clock

    def reserve(self, charge: Charge) -> Reservation:
        """Count ``charge`` in every limit's current window; OverLimit (nothing counted)
        when one of them is already at its capacity."""
        now = self.clock()
        keys = tuple((limit, limit.key(now)) for limit in self.limits)
        adds = [
            CounterAdd(key, charge.of(limit.name), 2 * limit.window_s, below=limit.capacity)
            for limit, key in keys
        ]
        refused = self._counters.add(adds) if adds else None
        if refused is not None:
            limit = keys[refused][0]
            raise OverLimit(limit, limit.resets_at(now))
        return Reservation(keys, charge)

    def settle(self, reservation: Reservation, actual: Charge) -> None:
        """Replace the reserved estimate with the actual charge, in the same windows."""
        adds = [
            CounterAdd(
                key, actual.of(limit.name) - reservation.charge.of(limit.name), 2 * limit.window_s
            )
            for limit, key in reservation.keys
        ]
        adds = [add for add in adds if add.amount != 0]
        if adds:
            self._counters.add(adds)

    def state(self) -> list[LimitState]:
        now = self.clock()
        keys = {limit: limit.key(now) for limit in self.limits}
        spent = self._counters.read(list(keys.values())) if keys else {}
        return [
            LimitState(
                limit.name.value,
                limit.capacity,
                spent[key],
                max(limit.capacity - spent[key], 0.0),
                limit.resets_at(now),
            )
            for limit, key in keys.items()
        ]

    def has_room(self) -> bool:
        """Every limit below its capacity in its current window."""
        return all(state.spent < state.capacity for state in self.state())


class BudgetGate:
    """The labeler's RequestGate (sieve.labeler.usage) over a Budget: each request the
    client sends, corrective turns included, is one admission."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def admit(self, tokens: int, cost_usd: float) -> Reservation:
        return self.budget.reserve(Charge(requests=1, tokens=tokens, usd=cost_usd))

    def settle(self, ticket: object, tokens: int, cost_usd: float) -> None:
        if isinstance(ticket, Reservation):
            self.budget.settle(ticket, Charge(requests=1, tokens=tokens, usd=cost_usd))


class StoreCounters:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, adds: Sequence[CounterAdd]) -> int | None:
        return add_to_counters(self._engine, adds)

    def read(self, keys: Sequence[str]) -> dict[str, float]:
        return read_counters(self._engine, keys)


# KEYS: counter keys; ARGV: per key (amount, below or "", ttl_s). All or nothing: every
# condition is checked before any counter moves, inside one script (Redis runs it alone).
_ADD_SCRIPT = """
for i = 1, #KEYS do
    local below = ARGV[3 * i - 1]
    if below ~= "" and tonumber(redis.call("GET", KEYS[i]) or "0") >= tonumber(below) then
        return i
    end
end
for i = 1, #KEYS do
    redis.call("INCRBYFLOAT", KEYS[i], ARGV[3 * i - 2])
    redis.call("EXPIRE", KEYS[i], ARGV[3 * i])
end
return 0
"""


class RedisCounters:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_ADD_SCRIPT)

    def add(self, adds: Sequence[CounterAdd]) -> int | None:
        args: list[str | float | int] = []
        for add in adds:
            args += [repr(add.amount), "" if add.below is None else repr(add.below), add.ttl_s]
        refused = int(self._script(keys=[self._key(add.key) for add in adds], args=args))
        return refused - 1 if refused else None

    def read(self, keys: Sequence[str]) -> dict[str, float]:
        values = self._client.mget([self._key(key) for key in keys]) if keys else []
        return {key: float(value or 0.0) for key, value in zip(keys, values, strict=True)}

    def _key(self, key: str) -> str:
        return f"{self._prefix}spend:{key}"

"""Budget: windows, reservations, settling, over the Counters interface (an in-memory fake;
tests/integration/test_budget_counters.py runs the same on Redis and the store)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sieve.core.settings import Settings
from sieve.store.spend import CounterAdd
from sieve.workers.llm.budget import Budget, Charge, Limit, LimitName, OverLimit, limits_from


class MemoryCounters:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add(self, adds: Sequence[CounterAdd]) -> int | None:
        for index, add in enumerate(adds):
            if add.below is not None and self.values.get(add.key, 0.0) >= add.below:
                return index
        for add in adds:
            self.values[add.key] = self.values.get(add.key, 0.0) + add.amount
        return None

    def read(self, keys: Sequence[str]) -> dict[str, float]:
        return {key: self.values.get(key, 0.0) for key in keys}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


HOUR = Limit(LimitName.USD_PER_HOUR, 1.0)
RPM = Limit(LimitName.REQUESTS_PER_MINUTE, 3)


def test_a_budget_stops_at_the_first_request_past_it_and_renews_with_the_window():
    clock = Clock(7_200.0)  # the start of an hour
    budget = Budget([HOUR], MemoryCounters(), clock)
    spent = 0.0
    with pytest.raises(OverLimit) as refused:
        for _ in range(100):
            budget.reserve(Charge(usd=0.3))
            spent += 0.3
    assert spent == pytest.approx(1.2)  # 4 requests: the 4th started at 0.9 < 1.0
    assert spent <= HOUR.capacity + 0.3  # never past the budget by more than one request
    assert refused.value.retry_at == 10_800.0 and refused.value.limit is HOUR
    clock.now = 10_800.0
    budget.reserve(Charge(usd=0.3))  # a new hour


def test_settling_replaces_the_estimate_with_the_actual_charge():
    counters = MemoryCounters()
    budget = Budget([HOUR, Limit(LimitName.TOKENS_PER_MINUTE, 1_000)], counters, Clock(0.0))
    reservation = budget.reserve(Charge(tokens=600, usd=0.5))
    budget.settle(reservation, Charge(tokens=150, usd=0.1))
    assert {state.name: state.spent for state in budget.state()} == pytest.approx(
        {"usd_per_hour": 0.1, "tokens_per_minute": 150}
    )
    assert budget.has_room()


def test_a_refused_reservation_counts_nothing_in_any_window():
    counters = MemoryCounters()
    budget = Budget([HOUR, RPM], counters, Clock(0.0))
    for _ in range(3):
        budget.reserve(Charge(usd=0.01))
    with pytest.raises(OverLimit) as refused:
        budget.reserve(Charge(usd=0.01))
    assert refused.value.limit is RPM and refused.value.retry_at == 60.0
    assert {s.name: s.spent for s in budget.state()}["usd_per_hour"] == pytest.approx(0.03)
    assert not budget.has_room()


def test_settling_lands_in_the_window_of_the_reservation():
    clock = Clock(59.0)
    budget = Budget([RPM, Limit(LimitName.TOKENS_PER_MINUTE, 100)], MemoryCounters(), clock)
    reservation = budget.reserve(Charge(tokens=50))
    clock.now = 61.0  # answered in the next minute
    budget.settle(reservation, Charge(tokens=20))
    assert {s.name: s.spent for s in budget.state()} == {
        "requests_per_minute": 0,
        "tokens_per_minute": 0,
    }


def test_no_limit_configured_means_no_limit():
    assert limits_from(Settings()) == []
    budget = Budget([], MemoryCounters(), Clock(0.0))
    for _ in range(1_000):
        budget.reserve(Charge(usd=1e6))
    assert budget.state() == [] and budget.has_room()


def test_limits_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("SIEVE_LLM__MAX_REQUESTS_PER_MINUTE", "600")
    monkeypatch.setenv("SIEVE_BUDGET__USD_PER_DAY", "25")
    assert limits_from(Settings()) == [
        Limit(LimitName.REQUESTS_PER_MINUTE, 600.0),
        Limit(LimitName.USD_PER_DAY, 25.0),
    ]

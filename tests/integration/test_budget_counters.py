"""The budget's shared counters on Redis and on both stores: workers racing for the last
room in a window cannot together spend past the limit by more than one request."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from sieve.store.engine import make_engine
from sieve.store.migrate import upgrade
from sieve.store.spend import CounterAdd, add_to_counters, purge_expired_counters, read_counters
from sieve.workers.llm.budget import (
    Budget,
    Charge,
    Counters,
    Limit,
    LimitName,
    OverLimit,
    RedisCounters,
    StoreCounters,
)

CHARGE = Charge(usd=0.05)
BUDGET = Limit(LimitName.USD_PER_HOUR, 1.0)  # 20 requests' worth


@pytest.fixture(params=["redis", "sqlite", "postgresql"])
def counters(request, tmp_path) -> Counters:
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        return RedisCounters(redis.Redis.from_url("redis://127.0.0.1:6379/0"), prefix)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sieve.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = make_engine(url)
    request.addfinalizer(engine.dispose)
    return StoreCounters(engine)


def test_racing_workers_stop_at_the_budget(counters: Counters, request):
    now = 3_600.0 * int(time.time() // 3_600)
    budget = Budget([BUDGET], counters, clock=lambda: now)
    granted: list[int] = []

    def worker() -> None:
        mine = 0
        for _ in range(20):
            try:
                budget.reserve(CHARGE)
            except OverLimit:
                break
            mine += 1
        granted.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = budget.state()[0].spent
    assert sum(granted) == 20  # 0.95 is the last spend still below 1.0
    assert spent == pytest.approx(1.0)
    assert spent <= BUDGET.capacity + CHARGE.usd


def test_sequential_requests_stop_at_the_budget_and_settle(counters: Counters):
    now = 3_600.0 * int(time.time() // 3_600)
    budget = Budget([BUDGET, Limit(LimitName.TOKENS_PER_MINUTE, 10_000)], counters, lambda: now)
    reservations = []
    with pytest.raises(OverLimit):
        for _ in range(100):
            reservations.append(budget.reserve(Charge(tokens=100, usd=0.3)))
    assert len(reservations) == 4
    for reservation in reservations:
        budget.settle(reservation, Charge(tokens=10, usd=0.01))
    states = {state.name: state for state in budget.state()}
    assert states["usd_per_hour"].spent == pytest.approx(0.04)
    assert states["tokens_per_minute"].spent == pytest.approx(40)
    assert states["usd_per_hour"].remaining == pytest.approx(0.96)


def test_expired_counters_read_as_zero_and_are_purged(store_url):
    engine = make_engine(store_url)
    try:
        add_to_counters(engine, [CounterAdd("old", 5.0, ttl_s=-1), CounterAdd("new", 2.0, 60)])
        assert read_counters(engine, ["old", "new"]) == {"old": 0.0, "new": 2.0}
        assert purge_expired_counters(engine) == 1
        assert read_counters(engine, ["old", "new"]) == {"old": 0.0, "new": 2.0}
    finally:
        engine.dispose()

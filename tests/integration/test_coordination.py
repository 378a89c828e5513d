"""Leases and the answer cache behave the same in Redis and in the database (SQLite and
PostgreSQL), so Sieve runs without Redis and loses none of its no-double-payment rules."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import update

from sieve.labeler.cache import cache_key
from sieve.store.coordination import purge_expired_leases
from sieve.store.engine import make_engine
from sieve.store.migrate import upgrade
from sieve.store.tables import llm_answers
from sieve.workers.llm.leases import Leases, RedisLeases, StoreAnswerCache, StoreLeases
from tests.integration.test_labeler_cache import ANSWER


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def leases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Leases]:
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        yield RedisLeases(client, prefix)
        client.close()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sieve.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url)
    engine = make_engine(url)
    yield StoreLeases(engine)
    engine.dispose()


def test_a_lease_is_held_by_one_owner_until_released(leases: Leases) -> None:
    first = leases.acquire("enqueued:label:m1:classify-zero-shot@1", 60)
    assert first is not None
    assert leases.acquire("enqueued:label:m1:classify-zero-shot@1", 60) is None
    assert leases.acquire("enqueued:label:m2:classify-zero-shot@1", 60) is not None
    leases.release("enqueued:label:m1:classify-zero-shot@1", "not-the-holder")
    assert leases.acquire("enqueued:label:m1:classify-zero-shot@1", 60) is None
    leases.release("enqueued:label:m1:classify-zero-shot@1", first)
    assert leases.acquire("enqueued:label:m1:classify-zero-shot@1", 60) is not None


def test_an_expired_lease_can_be_taken(leases: Leases) -> None:
    assert leases.acquire("label-lock:m1:v1", 1) is not None
    time.sleep(2.1)
    assert leases.acquire("label-lock:m1:v1", 60) is not None


def test_names_longer_than_the_column_stay_distinct(leases: Leases) -> None:
    long_id = "x" * 300
    assert leases.acquire(f"label-lock:{long_id}a:v1", 60) is not None
    assert leases.acquire(f"label-lock:{long_id}b:v1", 60) is not None
    assert leases.acquire(f"label-lock:{long_id}a:v1", 60) is None


def test_answers_round_trip_and_expire_in_the_store(store_url: str) -> None:
    engine = make_engine(store_url)
    cache = StoreAnswerCache(engine)
    key = cache_key("Where is my card?", "classify-zero-shot@1", "teacher-sim", "{}", ["a"])
    assert cache.get(key) is None
    cache.put(key, ANSWER)
    cache.put(key, ANSWER)  # a second worker caching the same answer is no error
    assert cache.get(key) == ANSWER
    assert StoreAnswerCache(engine).get(cache_key("Where?", "v", "m", "{}", ["a"])) is None

    expiring = StoreAnswerCache(engine, ttl_s=3600)
    other = cache_key("Card stuck", "classify-zero-shot@1", "teacher-sim", "{}", ["a"])
    expiring.put(other, ANSWER)
    assert expiring.get(other) == ANSWER
    with engine.begin() as conn:  # an hour later
        conn.execute(
            update(llm_answers)
            .where(llm_answers.c.key == other)
            .values(expires_at=llm_answers.c.created_at)
        )
    assert expiring.get(other) is None
    assert cache.get(key) == ANSWER  # no ttl: never expires
    engine.dispose()


def test_an_unreadable_entry_is_a_miss(store_url: str) -> None:
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(llm_answers.insert().values(key="k" * 64, answer="{not json"))
    assert StoreAnswerCache(engine).get("k" * 64) is None
    engine.dispose()


def test_expired_leases_are_purged_and_live_ones_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sieve.db'}"
    upgrade(url)
    engine = make_engine(url)
    leases = StoreLeases(engine)
    assert leases.acquire("enqueued:label:old:v1", 1) is not None
    assert leases.acquire("enqueued:label:live:v1", 3600) is not None
    time.sleep(2.1)
    assert purge_expired_leases(engine) == 1
    assert purge_expired_leases(engine) == 0
    assert leases.acquire("enqueued:label:live:v1", 60) is None  # still held
    engine.dispose()

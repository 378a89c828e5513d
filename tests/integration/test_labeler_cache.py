"""RedisAnswerCache against the real Redis on 127.0.0.1:6379, under a fresh key prefix."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sieve.labeler.answer import LLMAnswer
from sieve.labeler.cache import CacheUnavailable, RedisAnswerCache, cache_key
from tests.conftest import require_service

pytestmark = pytest.mark.integration

ANSWER = LLMAnswer(
    label="card_arrival",
    rationale="The card has not come.",
    raw_answer='{"label": "card_arrival"}',
    tokens_in=120,
    tokens_out=14,
    latency_ms=35.5,
    model="teacher-sim",
    prompt_version="classify-zero-shot@1",
)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    require_service("Redis", "127.0.0.1", 6379)
    client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    value = f"sieve-test-{uuid.uuid4().hex}:"
    yield value
    keys = list(redis_client.scan_iter(match=f"{value}*"))
    if keys:
        redis_client.delete(*keys)


def test_answers_are_stored_under_the_prefix_without_expiry(
    redis_client: redis.Redis, prefix: str
) -> None:
    cache = RedisAnswerCache(redis_client, prefix)
    key = cache_key("Where is my card?", "classify-zero-shot@1", "teacher-sim", "{}", ["a"])
    assert cache.get(key) is None
    cache.put(key, ANSWER)
    assert cache.get(key) == ANSWER
    assert RedisAnswerCache(redis_client, prefix).get(key) == ANSWER  # another process
    assert RedisAnswerCache(redis_client, f"{prefix}other:").get(key) is None
    assert redis_client.ttl(prefix + key) == -1  # exists, never expires


def test_ttl_is_applied_when_given(redis_client: redis.Redis, prefix: str) -> None:
    RedisAnswerCache(redis_client, prefix, ttl_s=300).put("k", ANSWER)
    assert 0 < redis_client.ttl(prefix + "k") <= 300


def test_an_unreadable_entry_is_a_miss(redis_client: redis.Redis, prefix: str) -> None:
    redis_client.set(prefix + "k", b"\x00 not json")
    assert RedisAnswerCache(redis_client, prefix).get("k") is None


def test_an_unreachable_redis_fails_reads_but_not_writes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = redis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    cache = RedisAnswerCache(client, "sieve-test-unreachable:")
    with pytest.raises(CacheUnavailable):
        cache.get("k")
    cache.put("k", ANSWER)  # logged, not raised: the paid answer still reaches the caller

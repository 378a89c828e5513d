from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from sieve.labeler.client import backoff_s, retry_after_from_headers


def _draws(attempt: int, **kwargs: float | None) -> list[float]:
    rng = random.Random(7)
    return [backoff_s(attempt, rng=rng, **kwargs) for _ in range(2_000)]  # type: ignore[arg-type]


@pytest.mark.parametrize("attempt", [0, 1, 3, 6, 10, 100, 10_000])
def test_backoff_never_exceeds_the_cap(attempt: int) -> None:
    assert max(_draws(attempt, base_s=0.5, cap_s=8.0)) <= 8.0


def test_backoff_is_exponential_with_full_jitter() -> None:
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0)]:
        draws = _draws(attempt, base_s=0.5, cap_s=100.0)
        assert max(draws) <= ceiling
        # Full jitter: spread over the whole [0, ceiling], not clustered near it.
        assert min(draws) < 0.05 * ceiling
        assert max(draws) > 0.95 * ceiling


def test_backoff_is_never_shorter_than_retry_after_even_above_the_cap() -> None:
    assert min(_draws(0, base_s=1.0, cap_s=60.0, retry_after_s=2.5)) >= 2.5
    assert min(_draws(20, base_s=1.0, cap_s=10.0, retry_after_s=30.0)) == 30.0


def test_backoff_with_a_seeded_rng_is_reproducible() -> None:
    assert _draws(4, base_s=1.0, cap_s=60.0) == _draws(4, base_s=1.0, cap_s=60.0)


def test_backoff_refuses_a_negative_attempt() -> None:
    with pytest.raises(ValueError):
        backoff_s(-1)


def test_retry_after_headers_in_seconds_milliseconds_and_dates() -> None:
    assert retry_after_from_headers({"retry-after": "7"}) == 7.0
    assert retry_after_from_headers({"retry-after": "0.5"}) == 0.5
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    from_date = retry_after_from_headers({"retry-after": later})
    assert from_date is not None and 25.0 <= from_date <= 30.0
    assert retry_after_from_headers({"retry-after": "soon"}) is None
    assert retry_after_from_headers({}) is None

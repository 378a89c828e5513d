"""The one place that says transient or permanent, table-driven."""

import pytest
import redis
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy.exc import OperationalError, ProgrammingError

from sieve.core.errors import (
    BadMessage,
    KafkaUnavailable,
    RecordTooLarge,
    StoreRejected,
    TransientError,
)
from sieve.workers.error_policy import Backoff, classify


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientError("x"), TransientError),
        (StoreRejected("x"), StoreRejected),
        (BadMessage("not_json"), BadMessage),
        (OperationalError("SELECT 1", {}, Exception("down")), TransientError),
        (KafkaUnavailable("timed out"), KafkaUnavailable),
        (RecordTooLarge("big"), RecordTooLarge),
        (redis.ConnectionError("refused"), TransientError),
        (KombuOperationalError("refused"), TransientError),
        (ProgrammingError("SELECT 1", {}, Exception("no such column")), type(None)),
        (KeyError("bug"), type(None)),
    ],
)
def test_classify(error, kind):
    assert type(classify(error)) is kind


def test_backoff_doubles_to_its_cap_and_resets():
    backoff = Backoff(1.0, 4.0)
    assert [backoff.next_delay_s() for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay_s() == 1.0


def test_jitter_stays_within_half_to_full_delay():
    backoff = Backoff(8.0, 8.0, jitter=True)
    assert all(4.0 <= backoff.next_delay_s() <= 8.0 for _ in range(50))

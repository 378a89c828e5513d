"""label_message with leases: concurrent labelings of one text pay for one call between
them; the others wait (AnswerInFlight) and are then served from the cache."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from sieve.labeler.cache import InMemoryAnswerCache, cache_key
from sieve.labeler.client import LLMClient, TransientLLMError
from sieve.labeler.prompts import load_prompt
from sieve.labeler.service import AnswerInFlight, LabelResult, label_message
from sieve.labeler.sim.faults import FaultRates, LatencySpec
from sieve.labeler.sim.simulator import SimulatorServer
from sieve.labeler.usage import ListRecorder
from tests.unit.labeler.conftest import SMALL_LABELS, SMALL_RECORDS, MakeSimulator

PROMPT = load_prompt("classify-zero-shot")
TEXT, GOLD = SMALL_RECORDS[0].text, SMALL_RECORDS[0].label
# The same text as different messages may carry it: a cache key normalises these.
SPELLINGS = [TEXT, TEXT.upper(), f"  {TEXT} ", TEXT.replace(" ", "  "), TEXT.lower()]


class FakeLeases:
    """The workers' Leases role in memory, with a clock the test moves."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.now_s = 0.0
        self.refused = 0

    def acquire(self, name: str, ttl_s: int) -> str | None:
        with self._lock:
            held = self._held.get(name)
            if held is not None and held[1] > self.now_s:
                self.refused += 1
                return None
            token = uuid.uuid4().hex
            self._held[name] = (token, self.now_s + ttl_s)
            return token

    def release(self, name: str, token: str) -> None:
        with self._lock:
            if self._held.get(name, ("", 0.0))[0] == token:
                del self._held[name]


def _client(sim: SimulatorServer) -> LLMClient:
    return LLMClient(base_url=sim.base_url, api_key="", model="teacher-sim", timeout_s=5.0)


def _concurrently(label: Callable[[str], LabelResult], texts: list[str]) -> list[LabelResult]:
    """Label every text on its own thread, all released at once; AnswerInFlight is
    retried the way the Celery task does, after a short pause."""
    results: list[LabelResult] = []
    start = threading.Barrier(len(texts))

    def run(text: str) -> None:
        start.wait()
        while True:
            try:
                results.append(label(text))
                return
            except AnswerInFlight:
                time.sleep(0.05)

    threads = [threading.Thread(target=run, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == len(texts)
    return results


@pytest.mark.parametrize("with_leases", [True, False])
def test_concurrent_duplicates_pay_once_with_leases_and_each_without(
    make_simulator: MakeSimulator, with_leases: bool
) -> None:
    # The endpoint takes 300 ms to answer: every thread misses the cache before any answer.
    sim = make_simulator(latency=LatencySpec.parse("300"))
    cache, leases, recorder = InMemoryAnswerCache(), FakeLeases(), ListRecorder()
    client = _client(sim)

    def label(text: str) -> LabelResult:
        return label_message(
            text,
            client=client,
            cache=cache,
            prompt=PROMPT,
            labels=SMALL_LABELS,
            recorder=recorder,
            leases=leases if with_leases else None,
        )

    results = _concurrently(label, SPELLINGS * 2)
    assert {result.label for result in results} == {GOLD}
    if with_leases:
        assert sim.stats()["paid_calls"] == 1 and len(recorder.requests) == 1
        assert sum(not result.cached for result in results) == 1
        assert leases.refused > 0
    else:  # what single flight prevents
        assert sim.stats()["paid_calls"] > 1


def test_a_held_lease_makes_a_miss_wait_and_an_expired_one_does_not(
    make_simulator: MakeSimulator,
) -> None:
    sim, cache, leases = make_simulator(), InMemoryAnswerCache(), FakeLeases()
    client = _client(sim)
    key = cache_key(
        TEXT, PROMPT.version_id, "teacher-sim", client.params.canonical_json(), SMALL_LABELS
    )
    # A holder that crashed mid-call: it never releases its lease.
    assert leases.acquire(f"answer:{key}", ttl_s=60) is not None
    options = {"client": client, "cache": cache, "prompt": PROMPT, "labels": SMALL_LABELS}
    with pytest.raises(AnswerInFlight):
        label_message(TEXT, leases=leases, **options)
    assert sim.stats()["requests"] == 0
    leases.now_s += 61  # the lease expires
    result = label_message(TEXT, leases=leases, **options)
    assert not result.cached and result.label == GOLD
    # Released after the call: the next miss of another key or a re-ask is not blocked.
    assert leases.acquire(f"answer:{key}", ttl_s=60) is not None


def test_the_lease_is_released_when_the_call_fails(make_simulator: MakeSimulator) -> None:
    sim, cache, leases = (
        make_simulator(faults=FaultRates(server_error=1.0)),
        InMemoryAnswerCache(),
        FakeLeases(),
    )
    options = {"client": _client(sim), "cache": cache, "prompt": PROMPT, "labels": SMALL_LABELS}
    for _ in range(2):  # the second attempt is not refused by a lease left behind
        with pytest.raises(TransientLLMError):
            label_message(TEXT, leases=leases, **options)
    assert sim.stats()["requests"] == 2 and leases.refused == 0

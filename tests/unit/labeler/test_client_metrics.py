"""The labeler's fixed points: every HTTP call (client), every cache lookup and cost (service)."""

from __future__ import annotations

import pytest

from sieve.labeler.cache import InMemoryAnswerCache
from sieve.labeler.client import LLMClient, TransientLLMError
from sieve.labeler.cost import ModelPrice
from sieve.labeler.parsing import LabelOutsideSet
from sieve.labeler.prompts import load_prompt
from sieve.labeler.service import label_message
from sieve.labeler.sim.faults import FaultRates
from sieve.labeler.sim.simulator import SimulatorServer
from tests.unit.core.test_metrics import sample
from tests.unit.labeler.conftest import SMALL_LABELS, SMALL_RECORDS, MakeSimulator

PROMPT = load_prompt("classify-zero-shot")
TEXT = SMALL_RECORDS[0].text
PRICES = {"teacher-sim": ModelPrice(1.0, 2.0)}


def _client(sim: SimulatorServer) -> LLMClient:
    return LLMClient(
        base_url=sim.base_url, api_key="", model="teacher-sim", timeout_s=5.0, prices=PRICES
    )


def test_an_answered_call_counts_the_tokens_the_endpoint_reported(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    calls, seconds = (
        sample("sieve_llm_calls_total", outcome="ok"),
        sample("sieve_llm_call_seconds_count"),
    )
    tokens_in = sample("sieve_llm_tokens_total", direction="input")
    tokens_out = sample("sieve_llm_tokens_total", direction="output")
    _client(sim).label(TEXT, PROMPT, SMALL_LABELS)
    stats = sim.stats()
    assert sample("sieve_llm_calls_total", outcome="ok") == calls + 1
    assert sample("sieve_llm_call_seconds_count") == seconds + 1
    assert sample("sieve_llm_tokens_total", direction="input") == tokens_in + stats["prompt_tokens"]
    assert (
        sample("sieve_llm_tokens_total", direction="output")
        == tokens_out + stats["completion_tokens"]
    )


def test_a_429_counts_as_a_rate_limited_call(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults=FaultRates(rate_limit=1.0), retry_after_s=1)
    limited, ok = (
        sample("sieve_llm_calls_total", outcome="rate_limited"),
        sample("sieve_llm_calls_total", outcome="ok"),
    )
    with pytest.raises(TransientLLMError):
        _client(sim).label(TEXT, PROMPT, SMALL_LABELS)
    assert sample("sieve_llm_calls_total", outcome="rate_limited") == limited + 1
    assert sample("sieve_llm_calls_total", outcome="ok") == ok


def test_a_corrective_retry_is_a_second_counted_call(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(faults=FaultRates(outside_set=1.0))
    ok = sample("sieve_llm_calls_total", outcome="ok")
    outside = sample("sieve_llm_calls_total", outcome="outside_set")
    cost = sample("sieve_llm_cost_usd_total")
    with pytest.raises(LabelOutsideSet):
        _client(sim).label(TEXT, PROMPT, SMALL_LABELS)
    # Both answers were paid for (tokens, cost), though neither named a label of the set.
    assert sample("sieve_llm_calls_total", outcome="outside_set") == outside + 2
    assert sample("sieve_llm_calls_total", outcome="ok") == ok
    stats = sim.stats()
    expected_usd = (stats["prompt_tokens"] * 1.0 + stats["completion_tokens"] * 2.0) / 1e6
    assert sample("sieve_llm_cost_usd_total") == pytest.approx(cost + expected_usd)


def test_the_service_counts_a_miss_with_its_cost_then_a_free_hit(
    make_simulator: MakeSimulator,
) -> None:
    sim, cache = make_simulator(), InMemoryAnswerCache()
    hits, misses = (
        sample("sieve_llm_cache_lookups_total", result="hit"),
        sample("sieve_llm_cache_lookups_total", result="miss"),
    )
    cost = sample("sieve_llm_cost_usd_total")
    first = label_message(
        TEXT, client=_client(sim), cache=cache, prompt=PROMPT, labels=SMALL_LABELS
    )
    assert sample("sieve_llm_cost_usd_total") == pytest.approx(cost + first.cost_usd)
    assert first.cost_usd > 0
    label_message(TEXT, client=_client(sim), cache=cache, prompt=PROMPT, labels=SMALL_LABELS)
    assert sample("sieve_llm_cache_lookups_total", result="miss") == misses + 1
    assert sample("sieve_llm_cache_lookups_total", result="hit") == hits + 1
    assert sample("sieve_llm_cost_usd_total") == pytest.approx(cost + first.cost_usd)

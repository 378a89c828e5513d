"""The recording helpers: one call, every family it stands for."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from sieve.core import metrics


def sample(name: str, **labels: str) -> float:
    """A metric's current value in this process (0 before its first record)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_ok_llm_call_counts_the_call_its_latency_and_tokens() -> None:
    before = (
        sample("sieve_llm_calls_total", outcome="ok"),
        sample("sieve_llm_call_seconds_count"),
        sample("sieve_llm_call_seconds_sum"),
        sample("sieve_llm_tokens_total", direction="input"),
        sample("sieve_llm_tokens_total", direction="output"),
    )
    metrics.record_llm_call(metrics.LLM_CALL_OK, 0.25, tokens_in=120, tokens_out=7)
    after = (
        sample("sieve_llm_calls_total", outcome="ok"),
        sample("sieve_llm_call_seconds_count"),
        sample("sieve_llm_call_seconds_sum"),
        sample("sieve_llm_tokens_total", direction="input"),
        sample("sieve_llm_tokens_total", direction="output"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == pytest.approx(
        [1, 1, 0.25, 120, 7]
    )


def test_a_failed_llm_call_counts_under_its_outcome_without_tokens() -> None:
    tokens = sample("sieve_llm_tokens_total", direction="input")
    limited = sample("sieve_llm_calls_total", outcome="rate_limited")
    metrics.record_llm_call("rate_limited", 0.01)
    assert sample("sieve_llm_calls_total", outcome="rate_limited") == limited + 1
    assert sample("sieve_llm_tokens_total", direction="input") == tokens


def test_cache_lookups_count_hits_and_misses_apart() -> None:
    hits, misses = (
        sample("sieve_llm_cache_lookups_total", result="hit"),
        sample("sieve_llm_cache_lookups_total", result="miss"),
    )
    metrics.record_cache_lookup(hit=True)
    metrics.record_cache_lookup(hit=True)
    metrics.record_cache_lookup(hit=False)
    assert sample("sieve_llm_cache_lookups_total", result="hit") == hits + 2
    assert sample("sieve_llm_cache_lookups_total", result="miss") == misses + 1


def test_cost_adds_up_in_usd() -> None:
    before = sample("sieve_llm_cost_usd_total")
    metrics.record_llm_cost(0.0015)
    metrics.record_llm_cost(0.0)
    assert sample("sieve_llm_cost_usd_total") == pytest.approx(before + 0.0015)


def test_a_labeling_records_its_outcome_its_failure_or_both() -> None:
    labeled = sample("sieve_labelings_total", outcome="labeled")
    failed = sample("sieve_labelings_total", outcome="failed")
    timeouts = sample("sieve_labeling_failures_total", kind="timeout")
    metrics.record_labeling(outcome="labeled")
    metrics.record_labeling(failure="timeout")
    metrics.record_labeling(outcome="failed", failure="timeout")
    assert sample("sieve_labelings_total", outcome="labeled") == labeled + 1
    assert sample("sieve_labelings_total", outcome="failed") == failed + 1
    assert sample("sieve_labeling_failures_total", kind="timeout") == timeouts + 2

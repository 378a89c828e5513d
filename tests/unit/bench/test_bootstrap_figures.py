"""The figures of `sieve bench bootstrap` from the two runs' chunks (pure arithmetic)."""

from __future__ import annotations

import pytest

from sieve.bench.bootstrap import figures
from sieve.bench.bootstrap_loop import Chunk, LoopRun


def _run(*chunks: tuple[int, int], calls: int, cost: float) -> LoopRun:
    run = LoopRun(calls=calls, cost_usd=cost)
    run.chunks = [Chunk(500, escalated, correct, "v") for escalated, correct in chunks]
    return run


def test_shares_and_accuracies_over_the_first_messages_with_the_cold_run_as_baseline() -> None:
    boot = _run((300, 400), (100, 450), (50, 460), (50, 470), calls=600, cost=0.5)
    cold = _run((500, 390), (400, 380), (300, 400), (200, 410), calls=1_400, cost=1.0)
    found = {figure.name: figure for figure in figures(boot, cold, 2_000, "cmd", "ngram")}
    assert sorted(found) == [
        "bootstrap.first1000.accuracy",
        "bootstrap.first1000.llm_share",
        "bootstrap.first2000.accuracy",
        "bootstrap.first2000.cost_usd",
        "bootstrap.first2000.llm_calls",
        "bootstrap.first2000.llm_share",
    ]
    share = found["bootstrap.first1000.llm_share"]
    assert share.value == pytest.approx(0.4) and share.baseline == pytest.approx(0.9)
    assert found["bootstrap.first2000.llm_share"].value == pytest.approx(0.25)
    assert found["bootstrap.first2000.accuracy"].value == pytest.approx(1_780 / 2_000)
    assert found["bootstrap.first2000.accuracy"].baseline == pytest.approx(1_580 / 2_000)
    calls = found["bootstrap.first2000.llm_calls"]
    assert (calls.value, calls.baseline) == (600, 1_400)
    assert all(figure.command == "cmd" for figure in found.values())


def test_a_short_stream_has_no_first1000_figures_beyond_it() -> None:
    run = _run((250, 400), calls=300, cost=0.1)
    names = [figure.name for figure in figures(run, run, 500, "cmd", "ngram")]
    assert "bootstrap.first500.llm_share" in names
    assert not any("first1000" in name for name in names)

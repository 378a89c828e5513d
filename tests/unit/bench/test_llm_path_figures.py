"""The LLM path benchmark's figures: medians per call beside the floor measured in the
same run, and the backlog's calls/s beside the ideal (no time is asserted)."""

from __future__ import annotations

from sieve.bench.figures import Figure
from sieve.bench.llm_path import LLMPathRun, figures


def test_figures_are_the_medians_beside_the_floor_and_the_ideal():
    run = LLMPathRun(
        backend="sqlite",
        task_ms=[9.0, 30.0, 12.0],
        floor_ms=[4.0, 5.0, 50.0],
        backlog=40,
        backlog_elapsed_s=4.0,
        stats={},
    )
    overhead, backlog = figures(run)
    assert (overhead.name, overhead.value, overhead.unit) == ("llm.task_overhead.ms", 12.0, "ms")
    assert (overhead.baseline, overhead.target, overhead.command) == (
        5.0,
        "≤ 10 ms",
        "sieve bench llm",
    )
    assert "median of 3 calls" in overhead.note and "mean 17.0 ms" in overhead.note
    assert (backlog.name, backlog.value, backlog.unit) == (
        "llm.backlog.calls_per_s",
        10.0,
        "calls/s",
    )
    assert backlog.baseline == 20.0  # 2 worker processes, 100 ms each
    assert [Figure.from_json(figure.to_json()) for figure in (overhead, backlog)] == [
        overhead,
        backlog,
    ]

"""overhead_figures end to end on a few calls (the suite runner calls it): every call is
stored through the real worker and the simulator, and the figures come back named."""

from __future__ import annotations

import pytest

from sieve.bench.llm_path import measure
from tests.conftest import BANKING77

pytestmark = pytest.mark.integration


def test_a_small_run_measures_every_call_and_the_backlog(monkeypatch):
    monkeypatch.delenv("SIEVE_DATABASE__URL", raising=False)  # its own SQLite file
    run = measure(BANKING77 / "test.jsonl", BANKING77 / "labels.txt", overhead_calls=3, backlog=4)
    assert (len(run.task_ms), len(run.floor_ms), run.backlog) == (3, 3, 4)
    assert all(ms > 0 for ms in run.task_ms + run.floor_ms) and run.backlog_elapsed_s > 0
    # Warm-up and 3 timed tasks, and the 3 inline calls of the floor; a warm-up and 4 tasks.
    assert run.stats["overhead"]["paid_calls"] == 7
    assert run.stats["throughput"]["paid_calls"] == 5
    assert run.backend == "sqlite"

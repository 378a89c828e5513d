"""The fault suite's frame without services: the registry, a row's verdict, the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from sieve.bench.faults import SCENARIOS, Row
from sieve.bench.faults.registry import scenario
from sieve.bench.faults.run import run_suite, table
from sieve.core.errors import ConfigError
from sieve.store.tally import Tally


def _row(name: str, *checks: tuple[str, bool], paid: int | None = 3) -> Row:
    return Row(name, 100, 0, 0, paid, 3 if paid is not None else None, checks, detail="d")


def test_the_issues_scenarios_are_registered() -> None:
    assert {"sigkill", "postgres-outage", "llm-outage", "llm-faults", "budget"} <= set(SCENARIOS)
    assert all(s.summary and s.name == name for name, s in SCENARIOS.items())


def test_a_name_registers_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        scenario("sigkill", "again")(lambda suite, short: _row("sigkill"))


def test_a_row_passes_only_when_every_check_holds() -> None:
    assert _row("a", ("x", True), ("y", True)).passed
    failing = _row("a", ("x", True), ("y", False))
    assert not failing.passed and failing.failed_checks == ["y"]


def test_table_is_markdown_with_a_line_per_failed_check() -> None:
    rows = [_row("good", ("x", True)), _row("bad", ("0 lost", False), paid=None)]
    lines = table(rows).splitlines()
    assert lines[0].startswith("| scenario | messages | lost | duplicate rows |")
    assert all(line.count("|") == 9 for line in lines[:4])
    assert "| good | 100 | 0 | 0 | 3 / 3 | n/a | pass | d |" in lines
    assert "| bad | 100 | 0 | 0 | n/a | n/a | FAIL | d |" in lines
    assert lines[4:] == ["- bad: FAIL: 0 lost"]


def test_unknown_scenarios_are_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope"):
        run_suite(["nope"], short=True, postgres_dsn="", data_dir=tmp_path, work_dir=tmp_path)


@pytest.mark.parametrize(
    ("predicted", "escalated", "answered", "lost"),
    [(100, 20, 20, 0), (98, 20, 20, 2), (100, 20, 17, 3), (99, 20, 19, 2)],
)
def test_lost_counts_missing_predictions_and_unanswered_escalations(
    predicted: int, escalated: int, answered: int, lost: int
) -> None:
    tally = Tally(predicted, escalated, answered, answered, 0, escalated)
    assert tally.lost(100) == lost
    assert tally.settled(100) is (lost == 0)

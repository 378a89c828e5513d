"""The fault scenarios by name, and the row each one reports.

A scenario is a function ``(suite, short) -> Row`` registered with ``@scenario(name,
summary)``; its module is imported by the package ``__init__`` so that importing
``sieve.bench.faults`` registers every scenario. A new scenario (the admin API's limits, say)
is one more module with one more decorated function: the runner, ``sieve bench faults
--only NAME`` and tests/integration/test_faults.py pick it up by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sieve.bench.faults.rig import Suite
    from sieve.store.tally import Tally

NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class Row:
    """One line of the table. ``lost``: messages without a prediction row plus escalations
        without a label row (``ok`` or ``failed``); ``duplicates``: label rows beyond one per
        escalated message plus prediction rows beyond one per message; ``paid_calls`` and
        ``distinct_texts`` from the simulator's counters and the escalated messages (None where
        the scenario has no LLM); ``checks``: each pass condition and whether it held;
    ``detail``: what else the run measured, in a few words."""

    scenario: str
    messages: int
    lost: int
    duplicates: int
    paid_calls: int | None
    distinct_texts: int | None
    checks: tuple[tuple[str, bool], ...]
    spend: str = NOT_APPLICABLE  # spend vs budget, once budgets are on the task path
    detail: str = ""

    @property
    def passed(self) -> bool:
        return all(held for _, held in self.checks)

    @property
    def failed_checks(self) -> list[str]:
        return [what for what, held in self.checks if not held]


def tallied_row(
    scenario: str,
    messages: int,
    tally: Tally,
    paid_calls: int | None,
    checks: tuple[tuple[str, bool], ...],
    *,
    spend: str = NOT_APPLICABLE,
    detail: str = "",
) -> Row:
    """The row of a scenario that streamed ``messages``: lost and duplicates from ``tally``,
    and the two checks every such scenario makes (0 lost, 0 duplicate rows) after its own."""
    lost = tally.lost(messages)
    return Row(
        scenario=scenario,
        messages=messages,
        lost=lost,
        duplicates=tally.duplicates,
        paid_calls=paid_calls,
        distinct_texts=tally.distinct_texts,
        checks=(
            *checks,
            ("0 lost", lost == 0),
            ("0 duplicate rows", tally.duplicates == 0),
        ),
        spend=spend,
        detail=detail,
    )


ScenarioRun = Callable[["Suite", bool], Row]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: ScenarioRun


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, summary: str) -> Callable[[ScenarioRun], ScenarioRun]:
    """Register ``run(suite, short) -> Row`` as the scenario ``name``."""

    def register(run: ScenarioRun) -> ScenarioRun:
        if name in SCENARIOS:
            raise ValueError(f"fault scenario {name!r} registered twice")
        SCENARIOS[name] = Scenario(name, summary, run)
        return run

    return register

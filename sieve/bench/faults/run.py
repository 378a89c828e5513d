"""`sieve bench faults [--short] [--only NAME]`: run the scenarios, print the markdown table.

A scenario that raises is a FAIL row (the error in its detail), and the others still run.
The exit status is 1 when any row fails. Needs PostgreSQL (``--postgres``, a libpq DSN of
a server where databases can be created), Redis on 127.0.0.1:6379 and the PostgreSQL
server binaries (initdb, pg_ctl) for `postgres-outage`.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from sieve.bench.faults.registry import NOT_APPLICABLE, SCENARIOS, Row
from sieve.bench.faults.suite import Suite
from sieve.core.errors import ConfigError
from sieve.demo.broker import EmbeddedBroker
from sieve.demo.processes import terminate_as_interrupt

logger = logging.getLogger(__name__)

HEADER = (
    "scenario",
    "messages",
    "lost",
    "duplicate rows",
    "paid calls / distinct texts",
    "spend / budget",
    "result",
    "detail",
)


def run_one(suite: Suite, name: str, *, short: bool) -> Row:
    """Scenario ``name`` on ``suite``; an exception becomes a FAIL row."""
    scenario = SCENARIOS[name]
    started = time.monotonic()
    logger.info("fault scenario %s: %s", name, scenario.summary)
    try:
        row = scenario.run(suite, short)
    except Exception as exc:  # one broken scenario must not hide the others' rows
        logger.exception("fault scenario %s raised", name)
        row = Row(name, 0, 0, 0, None, None, (("ran to the end", False),), detail=repr(exc))
    logger.info("fault scenario %s: %s in %.0f s", name, _result(row), time.monotonic() - started)
    return row


def run_suite(
    names: Sequence[str], *, short: bool, postgres_dsn: str, data_dir: Path, work_dir: Path
) -> list[Row]:
    """Run ``names`` in order; the processes' logs stay in ``work_dir`` (emptied first)."""
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise ConfigError(f"unknown fault scenarios {unknown}; known: {sorted(SCENARIOS)}")
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    with terminate_as_interrupt(), EmbeddedBroker() as broker:
        suite = Suite(broker, postgres_dsn, data_dir.resolve(), work_dir.resolve())
        return [run_one(suite, name, short=short) for name in names]


def table(rows: Sequence[Row]) -> str:
    """The rows as a markdown table, then each failed check."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        paid = (
            NOT_APPLICABLE if row.paid_calls is None else f"{row.paid_calls} / {row.distinct_texts}"
        )
        cells = (row.scenario, row.messages, row.lost, row.duplicates, paid, row.spend)
        lines.append("| " + " | ".join(str(c) for c in (*cells, _result(row), row.detail)) + " |")
    for row in rows:
        lines += [f"- {row.scenario}: FAIL: {what}" for what in row.failed_checks]
    return "\n".join(lines)


def _result(row: Row) -> str:
    return "pass" if row.passed else "FAIL"


def main(
    *, short: bool, only: Sequence[str], postgres_dsn: str, data_dir: Path, work_dir: Path
) -> int:
    names = list(only) or list(SCENARIOS)
    form = "short" if short else "full"
    rows = run_suite(
        names, short=short, postgres_dsn=postgres_dsn, data_dir=data_dir, work_dir=work_dir
    )
    print(f"Fault suite ({form} form)\n")
    print(table(rows))
    if not all(row.passed for row in rows):
        print(f"\nThe workers' logs: {work_dir}/<scenario>-*/")
        return 1
    return 0

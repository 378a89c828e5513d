"""One measured figure of a benchmark, as `sieve bench --json` prints it and
`bench/RESULTS.md` tabulates it.

A figure carries its baseline only when the baseline was measured in the same run (the
raw kafka-python loop beside the stream worker, the code before a change beside the code
after): a figure from another day is not a baseline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """``name`` is dotted and stable (``classify.batch256.items_per_s``): scripts key on it.
    ``baseline`` is the same quantity for the thing compared against, and ``baseline_of``
    says what that is; ``target`` is the goal if one was set (for the results table);
    ``command`` is the command that printed the figure."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_of: str = ""
    target: str = ""
    command: str = ""
    note: str = ""
    # When it was measured (UTC, to the minute): rows of one results table may come from
    # different runs (`sieve bench --part NAME` re-measures one part).
    measured_at: str = ""

    def to_json(self) -> str:
        """One line: ``{"name", "value", "unit", "baseline"}`` first, the context after."""
        record: dict[str, Any] = {
            "name": self.name,
            "value": _rounded(self.value),
            "unit": self.unit,
            "baseline": None if self.baseline is None else _rounded(self.baseline),
        }
        for key in ("baseline_of", "target", "command", "note", "measured_at"):
            if getattr(self, key):
                record[key] = getattr(self, key)
        return json.dumps(record, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Figure:
        record = json.loads(line)
        return cls(
            name=str(record["name"]),
            value=float(record["value"]),
            unit=str(record["unit"]),
            baseline=None if record.get("baseline") is None else float(record["baseline"]),
            baseline_of=str(record.get("baseline_of", "")),
            target=str(record.get("target", "")),
            command=str(record.get("command", "")),
            note=str(record.get("note", "")),
            measured_at=str(record.get("measured_at", "")),
        )


def _rounded(value: float) -> float:
    """Four significant digits: what a benchmark on a shared machine can claim."""
    return float(f"{value:.4g}")


def format_figures(figures: Sequence[Figure]) -> str:
    """A plain-text table: name, value and unit, the baseline beside it and the target."""
    lines = []
    for figure in figures:
        line = f"  {figure.name:<40} {_shown(figure.value):>12} {figure.unit:<8}"
        if figure.baseline is not None:
            line += f"  baseline {_shown(figure.baseline)} ({figure.baseline_of})"
        if figure.target:
            line += f"  target {figure.target}"
        lines.append(line)
    return "\n".join(lines)


def _shown(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"

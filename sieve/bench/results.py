"""The speed section of ``bench/RESULTS.md``, rewritten in place by `make bench`.

The section sits between two marker comments; the rest of the file (the cascade runs, the
hand-written summaries) is left as it is. Without the markers the section is put right
after the file's introduction. Each figure's row names the command that measured it; the
section's head names the machine, the date, the commit and the load when the run began
(the machines are shared: a figure is only as quiet as its run).
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sieve.bench.figures import Figure

BEGIN = "<!-- speed:begin (written by `make bench`; edits inside are overwritten) -->"
END = "<!-- speed:end -->"
# Every figure the section shows, one JSON object per line, beside the results file.
STORE = "speed.jsonl"


def machine() -> str:
    """One line: CPU model, cores, memory, kernel, Python."""
    model = "unknown CPU"
    with_cpuinfo = Path("/proc/cpuinfo")
    if with_cpuinfo.exists():
        for line in with_cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:", 1)[1].split()[0])
        memory = f", {kib / 2**20:.0f} GiB"
    return (
        f"{model}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def section(figures: Sequence[Figure], *, started: datetime, load: str) -> str:
    lines = [
        BEGIN,
        "## Speed of the fast path (`make bench`)",
        "",
        f"Written {started:%Y-%m-%d %H:%M} UTC on commit {commit()}: {machine()}. Load "
        f"average when the latest run began: {load}. Each row is one run's figure, measured "
        f"when its row says (`sieve bench --part NAME` re-measures one part; every figure is "
        f"kept in `{STORE}`); a baseline is only given when it was measured in the same run.",
        "",
        "| figure | value | baseline (same run) | target | measured (UTC) | command | conditions |",
        "| --- | ---: | --- | --- | --- | --- | --- |",
    ]
    for figure in figures:
        baseline = (
            f"{_shown(figure.baseline)} {figure.unit} ({figure.baseline_of})"
            if figure.baseline is not None
            else "–"
        )
        lines.append(
            f"| `{figure.name}` | {_shown(figure.value)} {figure.unit} | {baseline} | "
            f"{figure.target or '–'} | {figure.measured_at or '–'} | `{figure.command}` | "
            f"{figure.note or '–'} |"
        )
    lines.append(END)
    return "\n".join(lines)


def merged(previous: Sequence[Figure], latest: Sequence[Figure]) -> list[Figure]:
    """``previous`` with each figure ``latest`` measured again replaced in place, and the
    new names after them."""
    by_name = {figure.name: figure for figure in previous}
    for figure in latest:
        by_name[figure.name] = figure
    return list(by_name.values())


def rewrite(path: Path, figures: Sequence[Figure], *, started: datetime, load: str) -> None:
    """Merge ``figures`` into the figures kept beside ``path`` (STORE), then replace the
    speed section of ``path`` (or add it after the introduction)."""
    store = path.parent / STORE
    previous = (
        [Figure.from_json(line) for line in store.read_text(encoding="utf-8").splitlines() if line]
        if store.exists()
        else []
    )
    kept = merged(previous, figures)
    store.write_text("".join(f"{figure.to_json()}\n" for figure in kept), encoding="utf-8")
    new = section(kept, started=started, load=load)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + new + tail
    else:
        cut = text.find("\n## ")
        text = (
            f"{text.rstrip()}\n\n{new}\n" if cut < 0 else f"{text[: cut + 1]}\n{new}\n{text[cut:]}"
        )
    path.write_text(text, encoding="utf-8")


def now() -> datetime:
    return datetime.now(UTC)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _shown(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"

"""The speed suite's plumbing: figures as JSON lines, the results section rewritten in
place (and merged when one part is measured again), the parts the CLI accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sieve.bench import results, suite
from sieve.bench.figures import Figure
from sieve.cli.main import SPEED_PARTS, build_parser
from sieve.core.settings import Settings

STARTED = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def figure(name: str, value: float, **extra: str) -> Figure:
    return Figure(name, value, "msg/s", command="sieve bench x", **extra)


def test_a_figure_is_one_json_line_with_the_four_keys_first() -> None:
    measured = Figure(
        "stream.sieve.msg_per_s",
        2637.42,
        "msg/s",
        baseline=11920.3,
        baseline_of="raw loop",
        target="≥ 0.5",
        measured_at="2026-12-01 18:00",
    )
    line = measured.to_json()
    assert "\n" not in line
    record = json.loads(line)
    assert list(record)[:4] == ["name", "value", "unit", "baseline"]
    assert record["value"] == 2637 and record["baseline"] == 11920  # four significant digits
    expected = {**vars(measured), "value": 2637.0, "baseline": 11920.0}
    assert Figure.from_json(line) == Figure(**expected)
    assert json.loads(figure("a", 1.0).to_json())["baseline"] is None


def test_the_section_goes_after_the_introduction_and_the_rest_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\nIntro.\n\n## Cascade\n\nby hand\n")
    results.rewrite(path, [figure("a.b", 1.5, target="≥ 2")], started=STARTED, load="0.1")
    text = path.read_text()
    assert text.index("Intro.") < text.index(results.BEGIN) < text.index("## Cascade")
    assert "| `a.b` | 1.5 msg/s | – | ≥ 2 |" in text
    assert text.endswith("## Cascade\n\nby hand\n")


def test_measuring_one_part_again_replaces_its_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n")
    first = [figure("a", 1.0, measured_at="t1"), figure("b", 2.0, measured_at="t1")]
    results.rewrite(path, first, started=STARTED, load="0.1")
    again = [figure("b", 3.0, measured_at="t2"), figure("c", 4.0, measured_at="t2")]
    results.rewrite(path, again, started=STARTED, load="0.2")
    text = path.read_text()
    assert text.count(results.BEGIN) == 1 and text.count(results.END) == 1
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == ["a", "b", "c"]
    assert "| `b` | 3 msg/s |" in text and "| t2 |" in text and "| t1 |" in text
    kept = (tmp_path / results.STORE).read_text().splitlines()
    assert [Figure.from_json(line).value for line in kept] == [1.0, 3.0, 4.0]


def test_the_suite_stamps_and_emits_each_figure_and_refuses_unknown_parts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(suite.PARTS, "fake", lambda context: [figure("f", 9.0)])
    emitted: list[Figure] = []
    measured = suite.run(
        Settings(_env_file=None),
        ["fake"],
        data_dir=tmp_path,
        postgres_dsn="host=127.0.0.1 user=postgres",
        emit=emitted.append,
    )
    assert measured == emitted and [f.value for f in emitted] == [9.0]
    assert emitted[0].measured_at  # stamped when measured
    with pytest.raises(ValueError, match="unknown benchmark parts"):
        suite.run(Settings(_env_file=None), ["no"], data_dir=tmp_path, postgres_dsn="", emit=print)


def test_the_cli_knows_every_part_and_refuses_others(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(SPEED_PARTS) == set(suite.PARTS)
    args = build_parser().parse_args(["bench", "--part", "stream", "--json"])
    assert args.bench is None and args.part == ["stream"] and args.json
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--part", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err

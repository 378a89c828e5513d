"""`sieve rules check` and a bad rules file at `sieve stream` start-up: one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

BAD = "rules:\n  - name: refunds\n    keywords: [refund]\n    label: no_such_label\n"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sieve.cli", "--log-level", "WARNING", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def test_rules_check_prints_the_rules_in_order():
    result = run("rules", "check", "examples/rules.yaml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("examples/rules.yaml: 4 rules")
    assert lines[2].strip() == (
        r"2. stolen-card: matches /\b(lost|stolen)\b.{0,40}\bcard\b/i -> label "
        "lost_or_stolen_card  [reason rule:stolen-card]"
    )


def test_a_bad_rules_file_is_one_line_for_check_and_for_the_stream_worker(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    expected = (
        f"sieve: error: rules file {bad}: rule 1 ('refunds'): "
        "label 'no_such_label' is not in the label set\n"
    )
    checked = run("rules", "check", str(bad))
    assert (checked.returncode, checked.stderr) == (2, expected)

    # The stream worker refuses to start on it, before it touches Kafka.
    started = run(
        "stream",
        "--max-messages",
        "1",
        SIEVE_DATA_DIR=str(tmp_path),
        SIEVE_ROUTING__RULES_FILE=str(bad),
        SIEVE_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:1",
        SIEVE_STREAM__METRICS_PORT="0",
    )
    assert started.returncode == 2
    assert started.stderr.splitlines()[-1] == expected.strip()
    assert "Traceback" not in started.stderr

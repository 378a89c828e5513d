"""Bad command lines get a one-line message and a non-zero exit, never a traceback."""

import subprocess
import sys

import pytest


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sieve.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("stream", "--max-messages", "ten"), "expected a whole number, got 'ten'"),
        (("stream", "--idle-timeout-s", "-1"), "expected a number above 0"),
        (("train", "--data", "/no/such/file.jsonl"), "no such file: /no/such/file.jsonl"),
        (("produce", "missing.jsonl"), "no such file: missing.jsonl"),
        (("nonsense",), "invalid choice: 'nonsense'"),
    ],
)
def test_bad_arguments(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_is_one_line(tmp_path):
    import os

    env = {**os.environ, "SIEVE_ROUTING__MIN_CONFIDENCE": "2"}
    result = run("models", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "SIEVE_ROUTING__MIN_CONFIDENCE" in result.stderr


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("stream", "produce", "train", "migrate", "models", "bench", "demo"):
        assert command in result.stdout

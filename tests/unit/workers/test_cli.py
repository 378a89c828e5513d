"""Bad command lines get a one-line message and a non-zero exit, never a traceback."""

import subprocess
import sys
import time

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


def test_costs_reads_every_request_from_the_ledger(sqlite_url, sqlite_engine):
    import os

    from sieve.labeler.usage import LLMRequest, RequestOutcome
    from sieve.store.ledger import LedgerRecorder

    ledger = LedgerRecorder(sqlite_engine).for_message("m1")
    for turn, outcome, tokens, cost in [
        (1, RequestOutcome.OUTSIDE_SET, (40, 5), 0.004),
        (2, RequestOutcome.OK, (90, 5), 0.009),
        (1, RequestOutcome.SERVER_ERROR, (0, 0), 0.0),
    ]:
        ledger.record(LLMRequest("teacher-sim", "p@1", turn, outcome, *tokens, cost, 1.0))
    env = {**os.environ, "SIEVE_DATABASE__URL": sqlite_url}

    by_outcome = run("costs", "--by", "outcome", env=env)
    total = run("costs", env=env)

    assert by_outcome.returncode == 0, by_outcome.stderr
    table = by_outcome.stdout.split("\n\n")[0]
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:]}
    assert rows == {
        "ok": ["1", "90", "5", "0.0090"],
        "outside_set": ["1", "40", "5", "0.0040"],
        "server_error": ["1", "0", "0", "0.0000"],
    }
    assert total.stdout.splitlines()[1].split() == ["p@1", "3", "130", "10", "0.0130"]
    assert total.stdout.splitlines()[-1] == "escalations waiting (deferred): 0"


def test_costs_shows_each_budget_and_what_is_left(sqlite_url, sqlite_engine):
    import os

    from sieve.store.spend import CounterAdd, add_to_counters

    now = time.time()
    add_to_counters(sqlite_engine, [CounterAdd(f"usd_per_day:{int(now // 86_400)}", 1.5, 60)])
    env = {
        **os.environ,
        "SIEVE_DATABASE__URL": sqlite_url,
        "SIEVE_CELERY__BROKER_URL": sqlite_url,  # no Redis: the counters are in the store
        "SIEVE_BUDGET__USD_PER_DAY": "4",
    }
    result = run("costs", env=env)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("limit ")]
    assert line.startswith("limit usd_per_day: 1.5 used of 4, 2.5 left, renews ")

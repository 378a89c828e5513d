"""`sieve produce` publishes a JSON Lines file keyed by id, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.integration.conftest import read_topic


def test_produce_publishes_every_line_keyed_by_id(kafka_settings, tmp_path):
    lines = [json.dumps({"id": f"p{i}", "text": f"text {i}"}) for i in range(50)]
    lines.append("{not json")
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n\n")  # a trailing blank line is skipped
    env = {**os.environ, "SIEVE_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sieve.cli",
            "produce",
            str(source),
            "--topic",
            kafka_settings.input_topic,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert f"produced 51 messages to {kafka_settings.input_topic}" in result.stdout
    records = read_topic(kafka_settings, kafka_settings.input_topic)
    assert [r.value.decode() for r in records] == lines
    assert [r.key for r in records] == [f"p{i}".encode() for i in range(50)] + [None]

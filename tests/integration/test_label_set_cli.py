"""The stream worker and the Celery worker refuse to start when the active model's labels
and the label set (SIEVE_LABELS_FILE) differ: one line on stderr, a non-zero exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sieve.store.engine import make_engine
from sieve.store.versions import ModelVersionRecord, activate_model_version, register_model_version
from tests.conftest import BANKING77

OTHER_LABELS = ["billing", "delivery", "login", "refund"]


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    """A store whose active model was trained on four labels other than Banking77's."""
    from sieve.store.migrate import upgrade

    upgrade(sqlite_url)
    artefact = tmp_path / "models" / "v-other"
    artefact.mkdir(parents=True)
    (artefact / "labels.json").write_text(json.dumps(OTHER_LABELS), encoding="utf-8")
    engine = make_engine(sqlite_url)
    register_model_version(engine, ModelVersionRecord("v-other", "ngram", str(artefact), "h", {}))
    activate_model_version(engine, "v-other", reason="test")
    engine.dispose()
    run = uuid.uuid4().hex[:10]
    return {
        **os.environ,
        "SIEVE_DATA_DIR": str(tmp_path),
        "SIEVE_DATABASE__URL": sqlite_url,
        "SIEVE_LABELS_FILE": str(BANKING77 / "labels.txt"),
        "SIEVE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",  # never reached
        "SIEVE_REDIS__KEY_PREFIX": f"sieve-test-{run}:",
        "SIEVE_CELERY__QUEUE": f"sieve-test-{run}:tasks",
    }


@pytest.mark.parametrize("command", [["stream"], ["worker", "--concurrency", "1"]])
def test_a_worker_refuses_to_start_on_another_label_set(
    env: dict[str, str], command: list[str]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sieve.cli", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"`sieve {command[0]}` started instead of refusing")
    text = stderr.decode()
    assert process.returncode == 2, text[-2000:]
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("sieve: error: the active model v-other and the label set")
    assert "SIEVE_LABELS_FILE" in last and "4 (billing, delivery, login, refund)" in last

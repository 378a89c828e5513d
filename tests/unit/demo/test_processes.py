"""CliProcess: a `sieve` subprocess whose whole process group is killed or stopped, so a
Celery worker's pool children never outlive it. The worker runs on a SQLite broker: no
network service is needed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from sieve.demo.processes import CliProcess


def _group(pgid: int) -> set[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.add(int(entry.name))
    return members


def _worker(tmp_path: Path) -> CliProcess:
    env = {
        **os.environ,
        "SIEVE_DATA_DIR": str(tmp_path),
        "SIEVE_CELERY__BROKER_URL": f"sqlite:///{tmp_path / 'broker.db'}",
        "SIEVE_CELERY__METRICS_PORT": "0",
    }
    return CliProcess(env, "worker", "--concurrency", "2", log=tmp_path / "worker.log")


def _gone(pgid: int, timeout_s: float = 10) -> bool:
    """Whether the group empties: a SIGKILLed child is still listed until it has exited."""
    deadline = time.monotonic() + timeout_s
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _group(pgid)


def _wait_for_pool(process: CliProcess, timeout_s: float = 60) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while len(members := _group(process.pid)) < 3:  # the worker and its two pool children
        assert process.alive(), process.log_tail()
        assert time.monotonic() < deadline, f"no pool children: {process.log_tail()}"
        time.sleep(0.2)
    return members


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_the_whole_group_goes(tmp_path: Path, how: str) -> None:
    process = _worker(tmp_path)
    _wait_for_pool(process)
    code = process.kill() if how == "kill" else process.stop(grace_s=30)
    if how == "kill":
        assert code == -signal.SIGKILL
    assert not process.alive()
    assert _gone(process.pid)
    assert process.log is not None and process.log.stat().st_size > 0  # output went there


def test_exit_stops_a_running_process(tmp_path: Path) -> None:
    with _worker(tmp_path) as process:
        _wait_for_pool(process)
    assert process.process.returncode is not None and _gone(process.pid)

"""`sieve demo` stopped by SIGTERM (a supervisor, `timeout`) stops what it started: the
embedded broker and the worker subprocesses do not outlive it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import BANKING77


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # field 4 of stat: the parent's pid
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_broker_and_the_workers(tmp_path):
    env = {
        **os.environ,
        "SIEVE_DATA_DIR": str(tmp_path),
        "SIEVE_LABELS_FILE": str(BANKING77 / "labels.txt"),
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "sieve.cli", "demo", "--data-dir", str(BANKING77)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        # The broker, the Celery worker and the stream worker: three children once started.
        while len(children := _children(demo.pid)) < 3:
            assert demo.poll() is None, demo.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the demo did not start its processes"
            time.sleep(0.2)
        time.sleep(2)
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:  # nothing left behind, whatever the verdict
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:  # a worker leads its own group (its pool processes)
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after the demo exited: {left}"
    assert demo.returncode == 130  # interrupted, as by Ctrl-C

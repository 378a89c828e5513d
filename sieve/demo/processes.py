"""Sieve's own processes as subprocesses: `python -m sieve.cli <command>` for the demo, the
benchmarks, the fault suite and the tests that need real workers.

Each process starts in a session of its own, so a signal sent to its process group reaches
a Celery worker's pool children too: ``kill()`` is a crash (SIGKILL, nothing cleans up),
``stop()`` a supervisor's stop (SIGTERM, a grace period, then SIGKILL). Output goes to a log
file when one is given, so a failed run can be read afterwards.

The group is signalled only while its leader is not yet reaped (it may be a zombie): a
reaped leader's id could be reused by an unrelated process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a supervisor, `timeout`) unwinds like Ctrl-C, so that the context managers
    holding subprocesses, brokers and simulators stop them rather than leave them running."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class CliProcess:
    """``python -m sieve.cli *args`` with ``env``; use as a context manager to stop it."""

    def __init__(self, env: Mapping[str, str], *args: str, log: Path | None = None) -> None:
        self.args = args
        self.log = log
        self._log_file: IO[bytes] | None = log.open("ab") if log is not None else None
        output = self._log_file if self._log_file is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sieve.cli", *args],
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the pool children die with it
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.returncode is None and not self._exited()

    def kill(self) -> int:
        """SIGKILL to the whole process group, as a crash would; returns the exit code."""
        self._signal_group(signal.SIGKILL)
        code = self.process.wait()
        self._close_log()
        return code

    def stop(self, grace_s: float = 30.0) -> int:
        """SIGTERM to the group, SIGKILL after ``grace_s``; returns the exit code."""
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Whatever is left of the group (pool children outliving their leader, or all of
        # it after the grace period) is killed before the leader is reaped.
        self._signal_group(signal.SIGKILL)
        return self.wait()

    def wait(self, timeout_s: float | None = None) -> int:
        code = self.process.wait(timeout=timeout_s)
        self._close_log()
        return code

    def log_tail(self, chars: int = 2_000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]

    def _exited(self) -> bool:
        """Whether the leader has exited, without reaping it."""
        if self.process.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _signal_group(self, signum: signal.Signals) -> None:
        if self.process.returncode is not None:
            return  # reaped: its id may belong to someone else by now
        with contextlib.suppress(ProcessLookupError):  # the group is gone already
            os.killpg(self.process.pid, signum)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> CliProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

"""A PostgreSQL cluster of the suite's own, so one scenario can stop it without touching
the server other work runs on: ``initdb`` in a temporary folder, ``pg_ctl`` on a free
loopback port, trust authentication, dropped with the folder when the suite ends.

The binaries come from ``/usr/lib/postgresql/<version>/bin`` (Debian's layout) or PATH.
initdb refuses to run as root, so as root every command runs as the ``postgres`` OS user,
which then owns the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg

from sieve.core.errors import ConfigError
from sieve.demo.broker import free_port

SUPERUSER = "postgres"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_major, reverse=True)
    if found:
        return Path(found[0]).parent
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        raise ConfigError("no PostgreSQL server binaries (pg_ctl, initdb) found")
    return Path(on_path).parent


def _major(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


class PostgresCluster:
    """``start()`` once (initdb + start), then ``stop()`` / ``restart()`` at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self._bin = _binaries()
        self._root = Path(tempfile.mkdtemp(prefix="sieve-faults-pg-"))
        self._data = self._root / "data"
        self._log = self._root / "server.log"
        self._user = SUPERUSER if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self._root, entry.pw_uid, entry.pw_gid)
        self.running = False

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> PostgresCluster:
        if not self._data.exists():
            self._run("initdb", "-D", str(self._data), "-U", SUPERUSER, "--auth=trust", "--no-sync")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._root} -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self._data), "-l", str(self._log), "-o", options, "-w", "start"
        )
        self.running = True
        return self

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in a real outage."""
        if self.running:
            self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")
            self.running = False

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        result = subprocess.run(
            command,
            user=self._user,
            cwd=self._root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if result.returncode != 0:
            output = result.stdout.decode(errors="replace")[-2_000:]
            raise ConfigError(f"{program} failed ({result.returncode}): {output}")

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

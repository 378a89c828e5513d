"""Scenario `admin`, and the probes it shares with tests/integration/test_admin_limits.py:
the real `sieve admin` process (uvicorn on PostgreSQL) refuses every state-changing route
without a token, refuses a 200 MB body without reading it into memory, and never writes its
secrets to its log.

The 200 MB are produced by a generator (one 1 MiB block, sent again and again) over a raw
socket, so the sender holds 1 MiB; it stops sending as soon as the server has answered. The
server's memory is read from /proc/PID/status: the resident size before, sampled after every
MiB sent, and the peak (VmHWM, reset through /proc/PID/clear_refs before sending).
"""

from __future__ import annotations

import select
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi.routing import iter_route_contexts

from sieve.admin.app import create_app
from sieve.bench.faults.registry import Row, scenario
from sieve.bench.faults.rig import Rig, wait_for
from sieve.bench.faults.suite import Suite
from sieve.core.settings import Settings
from sieve.demo.processes import CliProcess
from sieve.store.engine import make_engine

BODY_BYTES = 200 * 1024 * 1024
BLOCK_BYTES = 1024 * 1024
MAX_GROWTH_BYTES = 50 * 1024 * 1024
READS = {"GET", "HEAD", "OPTIONS"}
LARGE_BODY_PATH = "/models/v1/promote"
MIB = 1024 * 1024


@dataclass
class AdminServer:
    """A running `sieve admin` on 127.0.0.1:``port``, its output in ``process.log``."""

    process: CliProcess
    port: int

    def rss_bytes(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise LookupError(f"no {field} for {self.process.pid}")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        request = urllib.request.Request(url, data=body or None, method=method)
        request.add_header("Content-Type", "application/json")  # urllib's default is a form
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def healthy(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"sieve admin exited:\n{self.process.log_tail()}")
        try:
            return self.request("GET", "/healthz")[0] == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        if not wait_for(self.healthy, timeout_s):
            raise TimeoutError(f"sieve admin did not answer /healthz in {timeout_s:.0f} s")

    def log_text(self) -> str:
        assert self.process.log is not None, "start sieve admin with a log file"
        return self.process.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def state_changing_routes() -> list[tuple[str, str]]:
    """(method, path) of every admin route that is not a read, ``{version}`` as ``v1``."""
    app = create_app(Settings(_env_file=None), make_engine("sqlite://"))  # no query is made
    return [
        (method, route.path.replace("{version}", "v1"))
        for route in iter_route_contexts(app.routes)
        if route.path is not None and route.methods is not None
        for method in sorted(route.methods - READS)
    ]


def leaked_secrets(log: str, secrets: Mapping[str, str]) -> list[str]:
    """The names of the ``secrets`` (name -> value) whose value appears in ``log``."""
    return [name for name, value in secrets.items() if value in log]


def _blocks(total_bytes: int) -> Iterator[bytes]:
    block = b" " * BLOCK_BYTES
    for _ in range(total_bytes // BLOCK_BYTES):
        yield block


def send_large(
    port: int,
    path: str,
    headers: Mapping[str, str],
    chunked: bool,
    after_block: Callable[[], None],
) -> tuple[int, int]:
    """POST BODY_BYTES from ``_blocks``; (status of the answer, bytes sent before it)."""
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(BODY_BYTES)}
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in {**headers, **framing}.items()]
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for block in _blocks(BODY_BYTES):
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered: stop sending
                frame = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
                sock.sendall(frame)
                sent += len(block)
                after_block()
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server closed the connection after answering
        head = b""
        while b"\r\n" not in head:
            part = sock.recv(4096)
            if not part:
                raise ConnectionError("the server closed the connection without answering")
            head += part
    return int(head.split(b" ", 2)[1]), sent


@dataclass(frozen=True)
class LargeBody:
    """One 200 MB POST: the status of the warm-up request (no body, no token), the answer's
    status, the bytes sent before it, the server's resident size before and at its peak."""

    warmup_status: int
    status: int
    sent_bytes: int
    rss_before: int
    rss_peak: int

    @property
    def growth_bytes(self) -> int:
        return self.rss_peak - self.rss_before


def post_large_body(server: AdminServer, headers: Mapping[str, str], chunked: bool) -> LargeBody:
    """POST BODY_BYTES to LARGE_BODY_PATH, sampling the server's memory after every block."""
    # Warm up the route once so that lazy imports are not counted as growth.
    warmup_status = server.request("POST", LARGE_BODY_PATH)[0]
    before = server.rss_bytes()
    server.reset_peak()
    samples: list[int] = []
    status, sent = send_large(
        server.port, LARGE_BODY_PATH, headers, chunked, lambda: samples.append(server.rss_bytes())
    )
    peak = max([server.rss_bytes("VmHWM"), *samples])
    return LargeBody(warmup_status, status, sent, before, peak)


TOKEN = "admin-secret-fault-5f1c0e7a"
LLM_API_KEY = "sk-llm-secret-fault-8d3e6a1f"


@scenario("admin", "admin API: no token refused, a 200 MB body refused, no secret in the log")
def admin(suite: Suite, short: bool) -> Row:
    # Fast and deterministic: the short form is the full one. The rig's stream settings
    # (one message) are unused; it gives a fresh database, Redis prefix and log folder.
    del short
    auth = {"Authorization": f"Bearer {TOKEN}"}
    port = free_port()
    with Rig(suite, "admin", 1) as rig:
        env = rig.env(
            "http://127.0.0.1:9/v1",  # no LLM is called: the key only has to stay secret
            ADMIN__TOKEN=TOKEN,
            ADMIN__PORT=str(port),
            LLM__API_KEY=LLM_API_KEY,
            LOG_LEVEL="DEBUG",
        )
        server = AdminServer(rig.start(env, "admin"), port)
        server.wait_ready()
        routes = state_changing_routes()
        refused = [
            server.request(method, path, headers, b'{"reason": "x"}')[0] == 401
            for method, path in routes
            for headers in ({}, {"Authorization": "Bearer not-the-token"})
        ]
        anonymous = post_large_body(server, {}, chunked=True)
        authorised = post_large_body(server, auth, chunked=True)
        healthy_after = server.request("GET", "/healthz")[0] == 200
        server.process.stop(grace_s=15)
        log = server.log_text()
    leaked = leaked_secrets(log, {"token": TOKEN, "LLM api key": LLM_API_KEY})
    requests = len(refused) + 2 * 2 + 1
    return Row(
        scenario="admin",
        messages=requests,
        lost=0,
        duplicates=0,
        paid_calls=None,
        distinct_texts=None,
        checks=(
            ("at least 4 state-changing routes", len(routes) >= 4),
            ("every state-changing route refused without a token", all(refused)),
            *_large_body_checks("no token", anonymous, 401),
            *_large_body_checks("token", authorised, 413),
            ("healthy after the large bodies", healthy_after),
            ("masked settings logged", "effective configuration" in log and "*****" in log),
            ("no secret in the log", not leaked),
        ),
        detail=(
            f"{len(routes)} routes refused; 200 MB: {_describe(anonymous)}, "
            f"with token {_describe(authorised)}; "
            + (f"leaked: {', '.join(leaked)}" if leaked else "secrets absent")
        ),
    )


def _large_body_checks(who: str, body: LargeBody, expected: int) -> list[tuple[str, bool]]:
    return [
        (f"200 MB, {who}: {expected}", body.status == expected and body.warmup_status == 401),
        (f"200 MB, {who}: answered before all was sent", body.sent_bytes < BODY_BYTES),
        (f"200 MB, {who}: growth < 50 MB", body.growth_bytes < MAX_GROWTH_BYTES),
    ]


def _describe(body: LargeBody) -> str:
    sent_mb, growth_mb = body.sent_bytes / MIB, body.growth_bytes / MIB
    return f"{body.status} after {sent_mb:.0f} MB sent, {growth_mb:+.0f} MB"

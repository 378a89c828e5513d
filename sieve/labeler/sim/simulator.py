"""Teacher simulator (``sieve teacher-sim``): an OpenAI-compatible server that answers from data.

Endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /stats``,
``POST /stats/reset``, ``GET /healthz``. What it answers is decided in
simulated_endpoint.py (text lookup, faults, counters) and noise.py (right or wrong
label); this module is the HTTP front, the in-process ``SimulatorServer`` for tests and
benchmarks, and the command line.

    with SimulatorServer(teacher, SimulatorConfig(faults=FaultRates(rate_limit=0.2))) as sim:
        client = LLMClient(base_url=sim.base_url, api_key="", model="teacher-sim", timeout_s=5)
        ...
        assert sim.stats()["paid_calls"] == 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import socket
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from sieve.core.dataset import read_label_set, read_labeled_jsonl
from sieve.core.logging import setup_logging
from sieve.labeler.sim.endpoint import Reply, SimulatedEndpoint, SimulatorConfig
from sieve.labeler.sim.faults import FaultRates, LatencySpec
from sieve.labeler.sim.generator import (
    ExampleGenerator,
    add_generator_arguments,
    generator_from_args,
)
from sieve.labeler.sim.noise import NoiseKind, Teacher
from sieve.labeler.sim.prompting import PromptSensitivity, parse_prompt_accuracy

logger = logging.getLogger(__name__)

_MAX_BODY_BYTES = 4 * 1024 * 1024
# How soon stop() takes effect.
_POLL_INTERVAL_S = 0.05


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when a thread pool opens many at once.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], endpoint: SimulatedEndpoint) -> None:
        self.endpoint = endpoint
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut the open (keep-alive) connections: a server that stops is gone for its
        clients too, not only for new connections."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai SDK's connection pool expects
    # Headers and body leave in one write (flushed after each request), without Nagle:
    # separate small writes meet delayed ACKs and cost ~40 ms per answer.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        endpoint = self.server.endpoint
        if self.path == "/healthz":
            self._send(Reply(200, {"status": "ok"}))
        elif self.path == "/stats":
            self._send(Reply(200, endpoint.stats.snapshot()))
        elif self.path.rstrip("/") == "/v1/models":
            model = {
                "id": endpoint.config.model,
                "object": "model",
                "created": 0,
                "owned_by": "sieve",
            }
            self._send(Reply(200, {"object": "list", "data": [model]}))
        else:
            self._send(Reply(404, {"error": {"message": f"no route {self.path}"}}))

    def do_POST(self) -> None:
        body = self._read_json()
        if self.path == "/stats/reset":
            self.server.endpoint.reset()
            self._send(Reply(200, {"status": "reset"}))
        elif self.path.rstrip("/") == "/v1/chat/completions":
            self._send(self.server.endpoint.complete(body, self.headers.get("Authorization")))
        else:
            self._send(Reply(404, {"error": {"message": f"no route {self.path}"}}))

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, _MAX_BODY_BYTES)) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send(self, reply: Reply) -> None:
        if reply.body is None:  # a hang: give no answer and drop the connection
            self.close_connection = True
            return
        payload = json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout) first

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class SimulatorServer:
    """The simulator on ``host:port`` (0: a free port) in a background thread."""

    def __init__(
        self,
        teacher: Teacher,
        config: SimulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        generator: ExampleGenerator | None = None,
    ) -> None:
        self.endpoint = SimulatedEndpoint(teacher, config or SimulatorConfig(), generator)
        self.host = host
        self._server = _Server((host, port), self.endpoint)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What to give an OpenAI client as ``base_url``."""
        return f"http://{self.host}:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        return self.endpoint.stats.snapshot()

    def hold(self) -> None:
        self.endpoint.hold()

    def release(self, *, refuse_held: bool) -> None:
        self.endpoint.release(refuse_held=refuse_held)

    def reset_stats(self) -> None:
        self.endpoint.reset()

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_S},
            name="teacher-sim",
            daemon=True,
        )
        self._thread.start()
        logger.info("teacher simulator listening on %s", self.base_url)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` or KeyboardInterrupt."""
        logger.info("teacher simulator listening on %s", self.base_url)
        try:
            self._server.serve_forever()
        finally:
            self.endpoint.stopping.set()
            self._server.server_close()

    def stop(self) -> None:
        self.endpoint.stopping.set()  # release requests sleeping in latency or a hang
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def load_teacher(
    data_paths: Sequence[Path],
    *,
    accuracy: float,
    noise: NoiseKind | str,
    seed: int,
    labels_path: Path | None = None,
    neighbours_k: int = 3,
) -> Teacher:
    """A Teacher over the records of every file in ``data_paths``."""
    records = [record for path in data_paths for record in read_labeled_jsonl(path)]
    labels = read_label_set(labels_path) if labels_path else None
    return Teacher(
        records, accuracy=accuracy, noise=noise, seed=seed, labels=labels, neighbours_k=neighbours_k
    )


def run_simulator(
    data_paths: Sequence[Path],
    *,
    host: str = "127.0.0.1",
    port: int = 8089,
    accuracy: float = 0.9,
    noise: NoiseKind | str = NoiseKind.CONFUSABLE,
    seed: int = 0,
    latency: LatencySpec | None = None,
    faults: FaultRates | None = None,
    labels_path: Path | None = None,
    neighbours_k: int = 3,
    generator: ExampleGenerator | None = None,
    **config: Any,
) -> None:
    """Serve in this thread until Ctrl-C. ``config``: the other SimulatorConfig fields."""
    teacher = load_teacher(
        data_paths,
        accuracy=accuracy,
        noise=noise,
        seed=seed,
        labels_path=labels_path,
        neighbours_k=neighbours_k,
    )
    settings = SimulatorConfig(
        seed=seed, latency=latency or LatencySpec(), faults=faults or FaultRates(), **config
    )
    server = SimulatorServer(teacher, settings, host=host, port=port, generator=generator)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("teacher simulator stopped: %s", server.stats())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sieve teacher-sim`` options, for a subcommand parser."""
    add = parser.add_argument
    add(
        "--data",
        type=Path,
        action="append",
        required=True,
        metavar="FILE.jsonl",
        help="labeled JSON Lines the teacher knows; repeat for several files",
    )
    add("--labels", type=Path, help="label set file (default: the labels in the data)")
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8089)
    add("--model", default="teacher-sim", help="the model name the server answers to")
    add("--accuracy", type=float, default=0.9, help="probability of the gold label")
    add("--noise", choices=[kind.value for kind in NoiseKind], default="confusable")
    add("--neighbours", type=int, default=3, help="confusable labels per label")
    add("--seed", type=int, default=0)
    add("--latency-ms", default="0", help="MS, LOW-HIGH (uniform) or MEAN~JITTER")
    add("--rate-429", type=float, default=0.0, help="share of requests answered 429")
    add("--retry-after-s", type=int, default=1, help="Retry-After sent with a 429")
    add("--rate-5xx", type=float, default=0.0, help="share answered 500 or 503")
    add("--rate-hang", type=float, default=0.0, help="share left hanging for --hang-s")
    add("--hang-s", type=float, default=60.0)
    add("--rate-malformed", type=float, default=0.0, help="share answered with broken JSON")
    add("--rate-outside", type=float, default=0.0, help="share answered outside the label set")
    add(
        "--example-accuracy",
        type=float,
        help="prompt-sensitive: accuracy when the prompt shows an example with the true label",
    )
    add(
        "--prompt-accuracy",
        action="append",
        default=[],
        metavar="NAME@VERSION=ACC",
        help="prompt-sensitive: accuracy for requests from this prompt version; repeatable",
    )
    add_generator_arguments(parser)
    add("--api-key", help="require this bearer token")
    add("--reject-response-format", action="store_true", help="answer 400 to JSON mode")


def run_from_args(args: argparse.Namespace) -> int:
    """Serve with parsed ``add_arguments`` options until Ctrl-C."""
    run_simulator(
        args.data,
        host=args.host,
        port=args.port,
        accuracy=args.accuracy,
        noise=args.noise,
        seed=args.seed,
        latency=LatencySpec.parse(args.latency_ms),
        faults=FaultRates(
            rate_limit=args.rate_429,
            server_error=args.rate_5xx,
            hang=args.rate_hang,
            malformed=args.rate_malformed,
            outside_set=args.rate_outside,
        ),
        labels_path=args.labels,
        neighbours_k=args.neighbours,
        model=args.model,
        retry_after_s=args.retry_after_s,
        hang_s=args.hang_s,
        api_key=args.api_key,
        reject_response_format=args.reject_response_format,
        prompts=PromptSensitivity(
            example_accuracy=args.example_accuracy,
            prompt_accuracy=parse_prompt_accuracy(args.prompt_accuracy),
        ),
        generator=generator_from_args(args),
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sieve.labeler.sim.simulator --data FILE ...`` (``sieve teacher-sim``)."""
    parser = argparse.ArgumentParser(
        prog="sieve teacher-sim",
        description="An OpenAI-compatible server that labels known texts with a chosen "
        "accuracy, noise model, latency and fault rates.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging("INFO")
    return run_from_args(args)


if __name__ == "__main__":
    sys.exit(main())

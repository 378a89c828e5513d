"""LLM path benchmark: Celery task path overhead and throughput against the simulator.

1. Overhead: one message at a time, enqueue → label row stored, with a zero-latency
   simulator: what the task path itself costs per call (Redis broker, task, cache lookup,
   HTTP call, upsert, final event). Each call alternates with the floor: the same labeling
   work done inline in this process, without Celery (the HTTP call to the simulator and the
   label upsert), so both see the same load on a shared machine.
2. Throughput: a backlog of messages with 100 ms simulated latency and 2 worker processes.

Everything real: the embedded Tansu broker, Redis, a Celery worker subprocess, the store
(SIEVE_DATABASE__URL, else a SQLite file in a temporary folder) and the simulator over HTTP,
in a process of its own (`sieve teacher-sim`) as a real endpoint would be: in this process
it would wait for the GIL behind the loop that polls for the label rows, a cost of the
benchmark charged to the task path only.
``overhead_figures`` returns the measurements as figures; ``run`` prints them as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr
from sqlalchemy import Engine

from sieve.bench.figures import Figure
from sieve.core.dataset import LabeledText, read_labeled_jsonl
from sieve.core.events import LabelSource
from sieve.core.settings import DatabaseSettings, Settings
from sieve.demo.broker import EmbeddedBroker, free_port
from sieve.demo.processes import CliProcess
from sieve.labeler.prompts import load_prompt
from sieve.store.labels import LabelRecord, LabelStatus, ok_label_count, save_label
from sieve.store.repository import MessageRecord, save_messages
from sieve.wiring import celery_sink, llm_client, open_store
from sieve.workers.label_set import deployment_label_set
from sieve.workers.llm.escalation import CeleryEscalationSink

COMMAND = "sieve bench llm"
BACKLOG_LATENCY_MS = 100
BACKLOG_WORKERS = 2


@dataclass(frozen=True)
class LLMPathRun:
    """What one run measured; times in milliseconds per call."""

    backend: str
    task_ms: list[float]  # enqueue → label row stored, through Celery
    floor_ms: list[float]  # the same work inline: HTTP call + label upsert
    backlog: int
    backlog_elapsed_s: float
    stats: dict[str, dict[str, Any]]  # the simulator's counters per phase

    @property
    def backlog_calls_per_s(self) -> float:
        return self.backlog / self.backlog_elapsed_s

    @property
    def ideal_calls_per_s(self) -> float:
        return BACKLOG_WORKERS * 1000 / BACKLOG_LATENCY_MS


def overhead_figures(
    data: Path, labels_file: Path, *, overhead_calls: int = 200, backlog: int = 400
) -> list[Figure]:
    """The task path's overhead per call (median, its inline floor as baseline) and the
    backlog's calls/s (the ideal as baseline), measured now on ``data``'s texts."""
    return figures(measure(data, labels_file, overhead_calls=overhead_calls, backlog=backlog))


def figures(result: LLMPathRun) -> list[Figure]:
    store = f"store {result.backend}"
    return [
        Figure(
            name="llm.task_overhead.ms",
            value=statistics.median(result.task_ms),
            unit="ms",
            baseline=statistics.median(result.floor_ms),
            baseline_of="the same labeling inline, without Celery (HTTP call + label upsert)",
            target="≤ 10 ms",
            command=COMMAND,
            note=f"median of {len(result.task_ms)} calls, enqueue → label stored, zero-latency "
            f"simulator, {store}; mean {statistics.mean(result.task_ms):.1f} ms",
        ),
        Figure(
            name="llm.backlog.calls_per_s",
            value=result.backlog_calls_per_s,
            unit="calls/s",
            baseline=result.ideal_calls_per_s,
            baseline_of=f"ideal: {BACKLOG_WORKERS} worker processes, one call per "
            f"{BACKLOG_LATENCY_MS} ms of simulated latency each",
            command=COMMAND,
            note=f"backlog of {result.backlog}, {store}",
        ),
    ]


def measure(data: Path, labels_file: Path, *, overhead_calls: int, backlog: int) -> LLMPathRun:
    settings = Settings()
    records = read_labeled_jsonl(data)
    if len(records) < 2 * overhead_calls + backlog + 2:
        raise ValueError(f"{data} has {len(records)} texts; this run needs distinct ones")
    run_id = uuid.uuid4().hex[:8]
    prefix = f"sieve-bench-{run_id}:"
    # Disjoint texts for each part: a text seen before is a cache hit, not a call.
    floor_texts = records[:overhead_calls]
    task_texts = records[overhead_calls : 2 * overhead_calls + 1]
    backlog_texts = records[2 * overhead_calls + 1 : 2 * overhead_calls + backlog + 2]
    stats: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        database_url = os.environ.get("SIEVE_DATABASE__URL") or f"sqlite:///{tmp}/bench.db"
        settings = settings.model_copy(
            update={
                "database": DatabaseSettings(url=SecretStr(database_url)),
                "data_dir": Path(tmp),
                "labels_file": labels_file,
                "redis": settings.redis.model_copy(update={"key_prefix": prefix}),
                "celery": settings.celery.model_copy(update={"queue": f"{prefix}tasks"}),
            }
        )
        env = {
            **os.environ,
            "SIEVE_DATABASE__URL": database_url,
            "SIEVE_LABELS_FILE": str(labels_file),
            "SIEVE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "SIEVE_KAFKA__LABELS_TOPIC": f"bench-{run_id}.labels",
            "SIEVE_REDIS__KEY_PREFIX": prefix,
            "SIEVE_CELERY__QUEUE": f"{prefix}tasks",
        }
        engine = open_store(settings)
        sink = celery_sink(settings, engine)
        try:
            with _simulator(env, data, 0, Path(tmp)) as sim, _worker(env, sim, 1):
                task_ids = _saved(engine, f"task-{run_id}", task_texts)
                _through_celery(engine, sink, task_ids[:1], timeout_s=120)  # warm-up
                inline = _InlineLabeling(settings, sim.base_url, engine)
                task_ms: list[float] = []
                floor_ms: list[float] = []
                for task_id, text in zip(task_ids[1:], floor_texts, strict=True):
                    task_ms.append(1000 * _through_celery(engine, sink, [task_id]))
                    message_id = f"floor-{run_id}-{len(floor_ms)}"
                    floor_ms.append(1000 * inline.label(message_id, text.text))
                inline.close()
                stats["overhead"] = sim.stats()
            with (
                _simulator(env, data, BACKLOG_LATENCY_MS, Path(tmp)) as sim,
                _worker(env, sim, BACKLOG_WORKERS),
            ):
                backlog_ids = _saved(engine, f"backlog-{run_id}", backlog_texts)
                _through_celery(engine, sink, backlog_ids[:1], timeout_s=120)  # warm-up
                backlog_elapsed_s = _through_celery(engine, sink, backlog_ids[1:])
                stats["throughput"] = sim.stats()
            backend = engine.url.get_backend_name()
        finally:
            engine.dispose()
            _delete_keys(settings, prefix)
    return LLMPathRun(backend, task_ms, floor_ms, backlog, backlog_elapsed_s, stats)


class _InlineLabeling:
    """The floor: the worker's labeling work minus Celery, leases, cache and event, done in
    this process with an LLM client configured as the worker's."""

    def __init__(self, settings: Settings, base_url: str, engine: Engine) -> None:
        llm = settings.llm.model_copy(update={"base_url": base_url})
        self._client = llm_client(settings.model_copy(update={"llm": llm}), engine)
        self._prompt = load_prompt(llm.prompt)
        self._labels = deployment_label_set(settings.labels_file)
        self._engine = engine

    def label(self, message_id: str, text: str) -> float:
        """Seconds to label ``text`` and store the label row."""
        started = time.monotonic()
        answer = self._client.label(text, self._prompt, self._labels)
        record = LabelRecord(
            message_id=message_id,
            source=LabelSource.LLM,
            prompt_version=answer.prompt_version,
            llm_model=answer.model,
            label=answer.label,
            status=LabelStatus.OK,
            raw_answer=answer.raw_answer,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            latency_ms=answer.latency_ms,
        )
        save_label(self._engine, record)
        return time.monotonic() - started

    def close(self) -> None:
        self._client.close()


class _Simulator:
    """`sieve teacher-sim` answering from ``base_url``."""

    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def _get(self, path: str) -> Any:
        root = self.base_url.removesuffix("/v1")
        with urllib.request.urlopen(f"{root}{path}", timeout=5) as response:
            return json.load(response)

    def stats(self) -> dict[str, Any]:
        return dict(self._get("/stats"))

    def wait_ready(self, process: CliProcess, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._get("/healthz")
                return
            except OSError:
                if not process.alive() or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the teacher simulator did not start:\n{process.log_tail()}"
                    ) from None
                time.sleep(0.1)


@contextmanager
def _simulator(env: dict[str, str], data: Path, latency_ms: int, tmp: Path) -> Iterator[_Simulator]:
    """The simulator as its own process: 100% accurate on ``data``, ``latency_ms`` per call."""
    port = free_port()
    args = ["--data", str(data), "--accuracy", "1.0", "--noise", "uniform", "--seed", "0"]
    args += ["--port", str(port), "--latency-ms", str(latency_ms)]
    with CliProcess(env, "teacher-sim", *args, log=tmp / f"sim-{port}.log") as process:
        sim = _Simulator(port)
        sim.wait_ready(process)
        yield sim


@contextmanager
def _worker(env: dict[str, str], sim: _Simulator, concurrency: int) -> Iterator[None]:
    worker_env = {**env, "SIEVE_LLM__BASE_URL": sim.base_url}
    with CliProcess(worker_env, "worker", "--concurrency", str(concurrency)):
        yield


def _saved(engine: Engine, prefix: str, texts: Sequence[LabeledText]) -> list[str]:
    ids = [f"{prefix}-{i}" for i in range(len(texts))]
    save_messages(
        engine, [MessageRecord(id=i, text=r.text) for i, r in zip(ids, texts, strict=True)]
    )
    return ids


def _through_celery(
    engine: Engine, sink: CeleryEscalationSink, ids: Sequence[str], timeout_s: float = 600
) -> float:
    """Enqueue ``ids`` and wait for their label rows; returns the seconds it took."""
    started = time.monotonic()
    sink.enqueue(ids)
    _wait_stored(engine, ids, started + timeout_s)
    return time.monotonic() - started


def _wait_stored(engine: Engine, ids: Sequence[str], deadline: float) -> None:
    while ok_label_count(engine, ids) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids)} labels not stored in time")
        time.sleep(0.002)


def _delete_keys(settings: Settings, prefix: str) -> None:
    client = redis.Redis.from_url(settings.redis.url.get_secret_value())
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def run(data: Path, labels_file: Path, *, overhead_calls: int, backlog: int) -> None:
    result = measure(data, labels_file, overhead_calls=overhead_calls, backlog=backlog)
    print(
        f"LLM path benchmark (Celery over Redis, store {result.backend}, "
        "teacher simulator over HTTP)"
    )
    task, floor = result.task_ms, result.floor_ms
    print(
        f"  enqueue → label stored, one at a time, 0 ms simulated latency: "
        f"{statistics.mean(task):.1f} ms per call over {len(task)} calls "
        f"(median {statistics.median(task):.1f} ms)"
    )
    print(
        f"    floor, the same labeling inline without Celery (HTTP call + upsert): "
        f"{statistics.mean(floor):.1f} ms per call (median {statistics.median(floor):.1f} ms)"
    )
    _print_stats(result.stats["overhead"])
    print(
        f"  backlog of {result.backlog}, {BACKLOG_LATENCY_MS} ms simulated latency, "
        f"{BACKLOG_WORKERS} worker processes: {result.backlog_calls_per_s:.1f} calls/s "
        f"(ideal {result.ideal_calls_per_s:.0f}/s)"
    )
    _print_stats(result.stats["throughput"])
    for figure in figures(result):
        print(f"  {figure.to_json()}")


def _print_stats(stats: dict[str, Any]) -> None:
    print(f"    simulator: {stats['paid_calls']} paid calls, {stats['requests']} requests")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=COMMAND)
    parser.add_argument("--data", type=Path, default=Path("data/banking77/test.jsonl"))
    parser.add_argument("--labels", type=Path, default=Path("data/banking77/labels.txt"))
    parser.add_argument("--overhead-calls", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=400)
    args = parser.parse_args(argv)
    run(args.data, args.labels, overhead_calls=args.overhead_calls, backlog=args.backlog)

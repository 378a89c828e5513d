"""LLM path benchmark: Celery task path overhead and throughput against the simulator.

1. Overhead: one message at a time, enqueue → label row stored, with a zero-latency
   simulator: what the task path itself costs per call (Redis broker, task, cache lookup,
   HTTP call, upsert, final event).
2. Throughput: a backlog of messages with 100 ms simulated latency and 2 worker processes.

Everything real: the embedded Tansu broker, Redis, a Celery worker subprocess, the store
(SIEVE_DATABASE__URL, else a SQLite file in a temporary folder) and the simulator over HTTP.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import redis
from pydantic import SecretStr
from sqlalchemy import Engine

from sieve.core.dataset import read_labeled_jsonl
from sieve.core.settings import DatabaseSettings, Settings
from sieve.demo.broker import EmbeddedBroker
from sieve.demo.processes import CliProcess
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import LatencySpec
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.store.labels import ok_label_count
from sieve.store.repository import MessageRecord, save_messages
from sieve.wiring import celery_sink, open_store


def _wait_stored(engine: Engine, ids: Sequence[str], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while ok_label_count(engine, ids) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"labels not stored within {timeout_s}s")
        time.sleep(0.002)


def run(data: Path, labels_file: Path, *, overhead_calls: int, backlog: int) -> None:
    settings = Settings()
    records = read_labeled_jsonl(data)
    run_id = uuid.uuid4().hex[:8]
    prefix = f"sieve-bench-{run_id}:"
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        database_url = os.environ.get("SIEVE_DATABASE__URL") or f"sqlite:///{tmp}/bench.db"
        settings = settings.model_copy(
            update={
                "database": DatabaseSettings(url=SecretStr(database_url)),
                "data_dir": Path(tmp),
                "redis": settings.redis.model_copy(update={"key_prefix": prefix}),
                "celery": settings.celery.model_copy(update={"queue": f"{prefix}tasks"}),
            }
        )
        base_env = {
            **os.environ,
            "SIEVE_DATABASE__URL": database_url,
            "SIEVE_LABELS_FILE": str(labels_file),
            "SIEVE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "SIEVE_KAFKA__LABELS_TOPIC": f"bench-{run_id}.labels",
            "SIEVE_REDIS__KEY_PREFIX": prefix,
            "SIEVE_CELERY__QUEUE": f"{prefix}tasks",
        }
        engine = open_store(settings)
        client = redis.Redis.from_url(settings.redis.url.get_secret_value())
        sink = celery_sink(settings, engine)
        teacher = load_teacher([data], accuracy=1.0, noise="uniform", seed=0)
        figures = []
        # Disjoint texts for the two runs: a text seen before is a cache hit, not a call.
        chunks = {
            "overhead": records[: overhead_calls + 1],
            "throughput": records[overhead_calls + 1 : overhead_calls + backlog + 2],
        }
        for name, latency, concurrency, count in (
            ("overhead", "0", 1, overhead_calls),
            ("throughput", "100", 2, backlog),
        ):
            config = SimulatorConfig(latency=LatencySpec.parse(latency))
            with SimulatorServer(teacher, config) as sim:
                env = {**base_env, "SIEVE_LLM__BASE_URL": sim.base_url}
                with CliProcess(env, "worker", "--concurrency", str(concurrency)):
                    chosen = chunks[name]
                    ids = [f"{name}-{run_id}-{i}" for i in range(len(chosen))]
                    save_messages(
                        engine,
                        [
                            MessageRecord(id=i, text=r.text)
                            for i, r in zip(ids, chosen, strict=True)
                        ],
                    )
                    sink.enqueue(ids[:1])  # warm-up: worker start, connections, imports
                    _wait_stored(engine, ids[:1], timeout_s=120)
                    started = time.monotonic()
                    if name == "overhead":
                        for message_id in ids[1:]:
                            sink.enqueue([message_id])
                            _wait_stored(engine, [message_id])
                    else:
                        sink.enqueue(ids[1:])
                        _wait_stored(engine, ids[1:])
                    elapsed_s = time.monotonic() - started
                    figures.append((name, latency, concurrency, count, elapsed_s, sim.stats()))
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        backend = engine.url.get_backend_name()
        engine.dispose()
    print(f"LLM path benchmark (Celery over Redis, store {backend}, teacher simulator over HTTP)")
    for name, latency, concurrency, count, elapsed_s, stats in figures:
        if name == "overhead":
            print(
                f"  enqueue → label stored, one at a time, {latency} ms simulated latency: "
                f"{1000 * elapsed_s / count:.1f} ms per call over {count} calls"
            )
        else:
            print(
                f"  backlog of {count}, {latency} ms simulated latency, {concurrency} worker "
                f"processes: {count / elapsed_s:.1f} calls/s "
                f"(ideal {concurrency * 1000 / int(latency):.0f}/s)"
            )
        print(f"    simulator: {stats['paid_calls']} paid calls, {stats['requests']} requests")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sieve bench llm")
    parser.add_argument("--data", type=Path, default=Path("data/banking77/test.jsonl"))
    parser.add_argument("--labels", type=Path, default=Path("data/banking77/labels.txt"))
    parser.add_argument("--overhead-calls", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=400)
    args = parser.parse_args(argv)
    run(args.data, args.labels, overhead_calls=args.overhead_calls, backlog=args.backlog)

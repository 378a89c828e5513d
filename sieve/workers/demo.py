"""`sieve demo`: the stream path end to end on embedded defaults, nothing else installed.

Starts the embedded Kafka-protocol broker, uses a fresh SQLite file, trains the fast model
on the Banking77 train file, streams the test file (plus a few malformed messages, to
show the dead-letter topic) through the stream worker, and prints what happened.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Row, select

from sieve.core.errors import PermanentError
from sieve.core.settings import Settings
from sieve.models.dataset import read_labeled_jsonl
from sieve.models.training import TrainConfig, train_from_file
from sieve.store.tables import predictions
from sieve.workers.embedded_broker import EmbeddedBroker
from sieve.workers.escalation import StoreEscalationSink
from sieve.workers.kafka_clients import ensure_topics, make_producer
from sieve.workers.produce import produce_lines
from sieve.workers.runtime import open_registry, open_store, stream_worker
from sieve.workers.stream import RunStats
from sieve.workers.training_cli import register

MALFORMED = [
    b"{not json",
    b'{"id": 7, "text": "an id that is a number"}',
    b'{"id": "demo-empty", "text": "   "}',
    b"\xff\xfe not utf-8",
]


def run_demo(settings: Settings, *, data_dir: Path, limit: int | None) -> int:
    train_file, test_file = data_dir / "train.jsonl", data_dir / "test.jsonl"
    for path in (train_file, test_file):
        if not path.is_file():
            raise PermanentError(f"demo data missing: {path} (run from the project folder)")
    demo_dir = settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    test = read_labeled_jsonl(test_file)[:limit]
    with EmbeddedBroker() as broker:
        kafka = settings.kafka.model_copy(
            update={
                "bootstrap_servers": broker.bootstrap_servers,
                "session_timeout_ms": 6_000,
                "heartbeat_interval_ms": 1_000,
            }
        )
        settings = settings.model_copy(
            update={
                "data_dir": demo_dir,
                "kafka": kafka,
                "database": settings.database.model_copy(update={"url": None}),
            }
        )
        print(f"1/3 training the fast model on {train_file} ...", flush=True)
        started = time.monotonic()
        info, metrics = train_from_file(
            train_file, open_registry(settings), eval_path=test_file, config=TrainConfig()
        )
        register(settings, info, activate=True, reason="demo")
        accuracy = metrics.accuracy if metrics else float("nan")
        print(
            f"    {info.version}: test accuracy {accuracy:.4f} in {time.monotonic() - started:.1f}s"
        )

        print(f"2/3 producing {len(test)} test messages + {len(MALFORMED)} malformed ones ...")
        ensure_topics(kafka)
        producer = make_producer(kafka, linger_ms=20)
        lines = [json.dumps({"id": item.id, "text": item.text}).encode() for item in test]
        produce_lines(producer, kafka.input_topic, lines + MALFORMED, shuffle_seed=77)
        producer.close()

        print("3/3 streaming through the worker (embedded Tansu broker, SQLite store) ...")
        engine = open_store(settings)
        with stream_worker(settings, engine, StoreEscalationSink(engine)) as worker:
            stats = worker.run(max_messages=len(lines) + len(MALFORMED), idle_timeout_s=60)
        with engine.connect() as conn:
            rows = conn.execute(
                select(predictions.c.message_id, predictions.c.label, predictions.c.route)
            ).all()
        engine.dispose()
    _report(rows, {item.id: item.label for item in test}, stats)
    return 0


def _report(rows: Sequence[Row[Any, Any, Any]], gold: dict[str, str], stats: RunStats) -> None:
    routes = Counter(row.route for row in rows)
    kept = [row for row in rows if row.route == "accept"]
    kept_right = sum(row.label == gold.get(row.message_id) for row in kept)
    all_right = sum(row.label == gold.get(row.message_id) for row in rows)
    total = max(len(rows), 1)
    print()
    print(f"  messages classified      {len(rows):>8}")
    print(f"  dead-lettered            {stats.dead_lettered:>8}")
    print(f"  accepted (kept)          {routes['accept']:>8}  ({routes['accept'] / total:.1%})")
    print(f"  escalated (for the LLM)  {routes['escalate']:>8}  ({routes['escalate'] / total:.1%})")
    print(f"  precision on kept        {kept_right / max(len(kept), 1):>8.1%}")
    print(f"  fast-model accuracy      {all_right / total:>8.1%}")
    print(f"  throughput               {stats.consumed / max(stats.busy_s, 1e-9):>8,.0f} msg/s")
    print()
    print("Escalated messages wait in the store's `escalations` table for the LLM path.")

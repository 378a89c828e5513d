"""Stream benchmark: Sieve's stream worker end to end, next to a raw kafka-python loop.

Both run on the same embedded broker over the same messages. The raw loop does what any
consumer that forwards messages must do (poll, produce one event per message, flush,
commit per batch) and nothing else, so the gap between the two is Sieve's own work:
decoding, featurising, inference, routing and the database writes. Throughput is counted
from the first polled record to the last commit, so the consumer-group join is excluded.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path

from sieve.bench.figures import Figure, format_figures
from sieve.core.dataset import read_labeled_jsonl
from sieve.core.settings import KafkaSettings, Settings
from sieve.demo.broker import EmbeddedBroker
from sieve.models.train_file import train_family_file
from sieve.wiring import open_registry, open_store, redis_client, register_trained, stream_worker
from sieve.workers.kafka_adapter import ensure_topics, make_consumer, make_producer
from sieve.workers.label_set import write_label_set
from sieve.workers.records import next_offsets
from sieve.workers.stream.produce import produce_lines, read_lines

BENCH_GROUP_TIMEOUTS = {"session_timeout_ms": 6_000, "heartbeat_interval_ms": 1_000}


def _messages(data: Path, count: int) -> list[bytes]:
    """``count`` messages cycled from the data file, each with a unique id."""
    lines = read_lines(data)
    out = []
    for index in range(count):
        document = json.loads(lines[index % len(lines)])
        out.append(json.dumps({"id": f"bench-{index}", "text": document["text"]}).encode())
    return out


def raw_loop(kafka: KafkaSettings, expected: int) -> float:
    """Messages/s of poll → produce one event each → flush → commit, per batch."""
    consumer = make_consumer(kafka.model_copy(update={"auto_offset_reset": "earliest"}))
    producer = make_producer(kafka)
    seen, first = 0, None
    try:
        while seen < expected:
            records = consumer.poll(kafka.poll_timeout_ms, kafka.max_batch_size)
            if not records:
                continue
            first = first or time.monotonic()
            for record in records:
                producer.send(kafka.labels_topic, key=record.key, value=b'{"final":true}')
            seen += len(records)
            producer.flush()
            consumer.commit(next_offsets(records))
        assert first is not None
        return seen / (time.monotonic() - first)
    finally:
        producer.close(timeout_s=10)
        consumer.close()


def _delete_keys(settings: Settings, prefix: str) -> None:
    client = redis_client(settings)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def measure(settings: Settings, *, messages: int, data: Path) -> dict[str, float | str]:
    """msg/s of the raw loop and of the stream worker (student: ``settings.models.family``)
    over the same ``messages`` on one embedded broker, and the store's backend."""
    with tempfile.TemporaryDirectory(prefix="sieve-bench-") as tmp, EmbeddedBroker() as broker:
        # Escalations go through the Celery sink, as in production, to a queue of this run.
        prefix = f"sieve-bench-{uuid.uuid4().hex[:8]}:"
        # The model is trained on the labels of ``data``: the run's label set is the same.
        labels = sorted({record.label for record in read_labeled_jsonl(data)})
        settings = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "labels_file": write_label_set(Path(tmp) / "labels.txt", labels),
                "redis": settings.redis.model_copy(update={"key_prefix": prefix}),
                "celery": settings.celery.model_copy(update={"queue": f"{prefix}tasks"}),
            }
        )
        lines = _messages(data, messages)
        figures: dict[str, float] = {}
        for name in ("raw", "sieve"):
            run_id = uuid.uuid4().hex[:8]
            kafka = settings.kafka.model_copy(
                update={
                    "bootstrap_servers": broker.bootstrap_servers,
                    "input_topic": f"bench-{name}-{run_id}",
                    "labels_topic": f"bench-{name}-{run_id}.labels",
                    "dlq_topic": f"bench-{name}-{run_id}.dlq",
                    "group_id": f"bench-{name}-{run_id}",
                    **BENCH_GROUP_TIMEOUTS,
                }
            )
            ensure_topics(kafka)
            producer = make_producer(kafka, linger_ms=20)
            produce_lines(producer, kafka.input_topic, lines)
            producer.close()
            if name == "raw":
                figures[name] = raw_loop(kafka, messages)
                continue
            run_settings = settings.model_copy(update={"kafka": kafka})
            registry = open_registry(run_settings)
            options = registry.train_options(
                seed=0, epochs=None, num_threads=settings.models.train_threads
            )
            info, _ = train_family_file(
                data, registry, settings.models.family, options, eval_path=None
            )
            register_trained(run_settings, info, activate=True, reason="bench")
            engine = open_store(run_settings)
            with stream_worker(run_settings, engine) as worker:
                stats = worker.run(max_messages=messages)
            engine.dispose()
            figures[name] = stats.consumed / stats.busy_s
            backend = engine.url.get_backend_name()
        _delete_keys(settings, prefix)
    return {**figures, "backend": backend}


def figures(settings: Settings, *, messages: int, data: Path) -> list[Figure]:
    measured = measure(settings, messages=messages, data=data)
    raw, sieve = float(measured["raw"]), float(measured["sieve"])
    command = f"sieve bench stream --messages {messages}"
    note = (
        f"{messages} messages, batch ≤ {settings.kafka.max_batch_size}, store "
        f"{measured['backend']}, {settings.models.family} student, embedded Tansu broker"
    )
    return [
        Figure("stream.raw.msg_per_s", raw, "msg/s", command=command, note=note),
        Figure(
            "stream.sieve.msg_per_s",
            sieve,
            "msg/s",
            baseline=raw,
            baseline_of="raw kafka-python consume+produce+commit, same run",
            command=command,
            note=note,
        ),
        Figure("stream.ratio", sieve / raw, "x", target="≥ 0.5", command=command, note=note),
    ]


def main(settings: Settings, *, messages: int, data: Path) -> None:
    measured = figures(settings, messages=messages, data=data)
    print(f"stream benchmark: {measured[0].note}")
    print(format_figures(measured))

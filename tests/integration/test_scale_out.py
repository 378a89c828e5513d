"""Scale-out by consumer group: two stream workers share a 4-partition topic; one is
SIGKILLed mid-run and restarted. Nothing is lost, nothing stored twice, every partition
is consumed and committed to its end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import func, select

from sieve.core.settings import KafkaSettings
from sieve.store.engine import make_engine
from sieve.store.tables import messages, predictions
from sieve.workers.kafka_adapter import ensure_topics, make_producer
from sieve.workers.stream.produce import produce_lines, read_lines
from tests.conftest import BANKING77
from tests.integration.conftest import activate, stream_env

PARTITIONS = 4
MESSAGES = 2000


class Worker:
    """`sieve stream` as a subprocess, its log in a file the test can read while it runs."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sieve.cli", "stream"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=handle,
            )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def holds_partitions(self, topic: str) -> bool:
        return f"partitions assigned: {topic}[" in self.text()

    def check_alive(self) -> None:
        code = self.process.poll()
        assert code is None, f"a worker exited with {code}: {self.text()[-2000:]}"


def _wait(condition: Callable[[], bool], workers: list[Worker], timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not condition():
        for worker in workers:
            worker.check_alive()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _rows(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(predictions)).scalar_one())


def _ends(kafka: KafkaSettings) -> dict[int, int]:
    """Per partition, the offset after its last record, found by reading it: Tansu's
    ListOffsets answered stale end offsets here (482 for a partition holding 528 records)."""
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    try:
        tps = [TopicPartition(kafka.input_topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        while consumer.poll(timeout_ms=3_000):
            pass
        return {tp.partition: consumer.position(tp) for tp in tps}
    finally:
        consumer.close(autocommit=False)


def _committed(kafka: KafkaSettings) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=kafka.group_id)
    try:
        tps = [TopicPartition(kafka.input_topic, p) for p in range(PARTITIONS)]
        return {tp.partition: consumer.committed(tp) or 0 for tp in tps}
    finally:
        consumer.close(autocommit=False)


def test_two_workers_share_four_partitions_through_a_sigkill(settings, model_factory, tmp_path):
    activate(settings.database_url, model_factory(0))
    kafka = settings.kafka
    ensure_topics(kafka, partitions=PARTITIONS)
    good = [
        json.dumps({"id": f"scale-{i}", "text": json.loads(line)["text"]}).encode()
        for i, line in enumerate(read_lines(BANKING77 / "train.jsonl")[:MESSAGES])
    ]
    env = stream_env(
        settings,
        KAFKA__MAX_BATCH_SIZE="25",  # many small commits: the kill lands between two
    )
    producer = make_producer(kafka)
    engine = make_engine(settings.database_url)
    topic = kafka.input_topic

    first, second = Worker(env, tmp_path / "first.log"), Worker(env, tmp_path / "second.log")
    _wait(
        lambda: first.holds_partitions(topic) and second.holds_partitions(topic),
        [first, second],
        120,
        "both workers to hold partitions",
    )
    produce_lines(producer, topic, good[: MESSAGES // 2])
    _wait(lambda: _rows(engine) >= 300, [first, second], 120, "the first rows")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    rows_at_kill = _rows(engine)

    restarted = Worker(env, tmp_path / "restarted.log")
    _wait(lambda: restarted.holds_partitions(topic), [second, restarted], 120, "the rejoin")
    produce_lines(producer, topic, good[MESSAGES // 2 :])
    producer.close()
    _wait(lambda: _rows(engine) >= MESSAGES, [second, restarted], 300, "every row")
    ends = _ends(kafka)
    assert sum(ends.values()) == MESSAGES and all(ends.values())
    _wait(lambda: _committed(kafka) == ends, [second, restarted], 120, "commits to the end")
    for worker in (second, restarted):
        worker.process.send_signal(signal.SIGTERM)
    for worker in (second, restarted):
        assert worker.process.wait(timeout=60) == 0, worker.text()[-2000:]

    with engine.connect() as conn:
        per_message = Counter(conn.execute(select(predictions.c.message_id)).scalars())
        stored = Counter(conn.execute(select(messages.c.id)).scalars())
        partitions = set(conn.execute(select(messages.c.partition).distinct()).scalars())
    engine.dispose()
    assert rows_at_kill < MESSAGES // 2  # killed mid-run, with its partitions uncommitted
    assert set(per_message) == set(stored) == {f"scale-{i}" for i in range(MESSAGES)}  # 0 lost
    assert max(per_message.values()) == max(stored.values()) == 1  # 0 duplicate rows
    assert partitions == set(range(PARTITIONS))  # every partition consumed

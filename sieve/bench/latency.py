"""Latency benchmark: produce → label event, at a fixed offered rate, through the adapter.

A producer in this process sends ``rate`` messages per second, on a fixed schedule (not as
fast as it can), to the input topic of a `sieve stream` subprocess; a consumer of the labels
topic, also here, notes when each message's first label event arrives. The figure is the
time between the two, per message, both read from this process's monotonic clock, so no
clock needs to agree with another. The stream worker runs on the fault suite's rig: a fresh
PostgreSQL database, the n-gram student, a quarter of the messages escalated to a Celery
queue (nobody labels them: the event measured is the student's, final or not).

    sieve bench latency [--rate 1000] [--seconds 10]
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable

import numpy as np

from sieve.bench.faults.rig import Rig, wait_for
from sieve.bench.faults.suite import Suite
from sieve.bench.figures import Figure
from sieve.core.settings import KafkaSettings
from sieve.workers.kafka_adapter import make_producer, make_reader

logger = logging.getLogger(__name__)

# The worker's poll and batch settings for the latency run: poll returns as soon as records
# arrive, so a batch is what came in since the last one; the cap bounds a catch-up batch.
LATENCY_SETTINGS = {"KAFKA__MAX_BATCH_SIZE": "500", "KAFKA__POLL_TIMEOUT_MS": "1000"}
# The worker's fetch wait for the figure; its baseline runs with kafka-python's default.
FETCH_MAX_WAIT_MS = 10
DEFAULT_FETCH_MAX_WAIT_MS = 500
# The watcher's own fetch wait: it must not add its own delay to what it measures.
WATCH_FETCH_MAX_WAIT_MS = 10
UNUSED_LLM = "http://127.0.0.1:9/v1"  # no Celery worker runs: the LLM is never called


class LabelWatcher:
    """Consumes a labels topic in a thread; ``arrivals``: message id → monotonic time of its
    first label event."""

    def __init__(self, kafka: KafkaSettings) -> None:
        # Outside any group: a group join (seconds against Tansu) would hold back the
        # first events and count its wait as the stream's latency.
        watch = kafka.model_copy(update={"fetch_max_wait_ms": WATCH_FETCH_MAX_WAIT_MS})
        self._consumer = make_reader(watch, kafka.labels_topic)
        self.arrivals: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="label-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for record in self._consumer.poll(100, 5_000):
                now = time.monotonic()
                if record.value is None:
                    continue
                message_id = json.loads(record.value)["id"]
                self.arrivals.setdefault(message_id, now)

    def has(self, ids: Iterable[str]) -> bool:
        return all(message_id in self.arrivals for message_id in ids)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()


def wait_assigned(rig: Rig, workers: int, timeout_s: float = 60.0) -> None:
    """Until ``workers`` `sieve stream` processes have logged an assignment."""
    if not wait_for(lambda: rig.log_lines("stream", "partitions assigned") >= workers, timeout_s):
        raise TimeoutError(f"the stream workers did not join the group within {timeout_s:.0f} s")


def measure(suite: Suite, *, rate: float, seconds: float, fetch_max_wait_ms: int) -> np.ndarray:
    """Produce → first label event, in ms, for every message of one run."""
    count = max(int(rate * seconds), 1)
    settings = {**LATENCY_SETTINGS, "KAFKA__FETCH_MAX_WAIT_MS": str(fetch_max_wait_ms)}
    with Rig(suite, "latency", count) as rig:
        rig.start(rig.env(UNUSED_LLM, **settings), "stream")
        wait_assigned(rig, 1)
        watcher = LabelWatcher(rig.kafka)
        producer = make_producer(rig.kafka, linger_ms=0)
        sent: dict[str, float] = {}
        try:
            started = time.monotonic()
            for index, message_id in enumerate(rig.ids):
                delay_s = started + index / rate - time.monotonic()
                if delay_s > 0:
                    time.sleep(delay_s)
                sent[message_id] = time.monotonic()
                producer.send(rig.kafka.input_topic, key=message_id.encode(), value=rig.line(index))
            producer.flush()
            offered = count / (time.monotonic() - started)
            if not wait_for(lambda: watcher.has(rig.ids), timeout_s=120):
                missing = sum(message_id not in watcher.arrivals for message_id in rig.ids)
                raise TimeoutError(f"{missing} of {count} label events did not arrive")
        finally:
            producer.close(timeout_s=10)
            watcher.close()
    logger.info("latency run: %d messages offered at %.0f msg/s", count, offered)
    return np.array([1000 * (watcher.arrivals[i] - sent[i]) for i in rig.ids])


def figures(suite: Suite, *, rate: float = 1_000, seconds: float = 10) -> list[Figure]:
    tuned = measure(suite, rate=rate, seconds=seconds, fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
    default = measure(
        suite, rate=rate, seconds=seconds, fetch_max_wait_ms=DEFAULT_FETCH_MAX_WAIT_MS
    )
    command = f"sieve bench latency --rate {rate:g} --seconds {seconds:g}"
    settings = ", ".join(f"{name.lower()}={value}" for name, value in LATENCY_SETTINGS.items())
    note = (
        f"{len(tuned)} messages at {rate:g} msg/s offered; n-gram student, PostgreSQL, a "
        f"quarter escalated to Celery; {settings}, kafka__fetch_max_wait_ms={FETCH_MAX_WAIT_MS}"
    )
    baseline_of = f"kafka__fetch_max_wait_ms={DEFAULT_FETCH_MAX_WAIT_MS} (default), same run"
    return [
        Figure(
            f"stream.latency.p{q}_ms",
            float(np.percentile(tuned, q)),
            "ms",
            baseline=float(np.percentile(default, q)),
            baseline_of=baseline_of,
            target="≤ 50 ms" if q == 99 else "",
            command=command,
            note=note,
        )
        for q in (50, 95, 99)
    ]

"""Scale-out benchmark: one and two `sieve stream` processes on a 4-partition topic.

Each run gets the fault suite's rig (a fresh PostgreSQL database, the n-gram student, a
quarter of the messages escalated to a Celery queue): the messages are produced first, then
the workers start in one consumer group, and a consumer of the labels topic notes when each
label event arrives. Throughput is counted between the 10th and the 90th percentile of the
arrivals, so the group join before and the last partition's tail after are left out.

    sieve bench scale [--messages 20000]
"""

from __future__ import annotations

import logging
import os

import numpy as np

from sieve.bench.faults.rig import Rig, wait_for
from sieve.bench.faults.suite import Suite
from sieve.bench.figures import Figure
from sieve.bench.latency import UNUSED_LLM, LabelWatcher

logger = logging.getLogger(__name__)

PARTITIONS = 4
SCALE_SETTINGS = {"KAFKA__MAX_BATCH_SIZE": "500"}


def throughput(suite: Suite, *, workers: int, messages: int) -> float:
    """Label events per second of ``workers`` stream processes sharing the partitions."""
    with Rig(suite, f"scale{workers}", messages, partitions=PARTITIONS) as rig:
        rig.produce(0, messages)
        watcher = LabelWatcher(rig.kafka)
        try:
            env = rig.env(UNUSED_LLM, **SCALE_SETTINGS)
            for _ in range(workers):
                rig.start(env, "stream")
            if not wait_for(lambda: watcher.has(rig.ids), timeout_s=600):
                raise TimeoutError(f"{workers} workers: not every label event arrived")
        finally:
            watcher.close()
    times = np.sort(np.fromiter(watcher.arrivals.values(), dtype=np.float64))
    low, high = np.percentile(times, [10, 90])
    inside = int(((times >= low) & (times <= high)).sum())
    rate = inside / max(high - low, 1e-9)
    logger.info("%d stream worker(s): %.0f msg/s", workers, rate)
    return float(rate)


def figures(suite: Suite, *, messages: int = 20_000) -> list[Figure]:
    one = throughput(suite, workers=1, messages=messages)
    two = throughput(suite, workers=2, messages=messages)
    command = f"sieve bench scale --messages {messages}"
    cores = os.cpu_count() or 1
    note = (
        f"{messages} messages, {PARTITIONS} partitions, store PostgreSQL, n-gram student; "
        f"{cores} cores shared by the workers, the broker, PostgreSQL and this process"
    )
    return [
        Figure("stream.scale.one_worker.msg_per_s", one, "msg/s", command=command, note=note),
        Figure(
            "stream.scale.two_workers.msg_per_s",
            two,
            "msg/s",
            baseline=one,
            baseline_of="one worker, same run",
            command=command,
            note=note,
        ),
        Figure(
            "stream.scale.speedup",
            two / one,
            "x",
            target="≥ 1.6 where cores allow",
            command=command,
            note=note,
        ),
    ]

"""Scenario `sigkill`: the stream worker and a Celery worker killed with SIGKILL at random
points (seeded), three times each, while messages stream and escalations are labeled.

Two Celery workers (one process each) and the beat run beside the stream worker. The kill
points are progress marks drawn from a seeded generator: predictions stored for the stream
worker, escalations answered for the Celery workers (which of the two dies is drawn too).
Each killed process is restarted at once. Passes when nothing is lost, no row is
duplicated, every kill happened, and the LLM was paid at most once per distinct escalated
text plus once per Celery kill (a call answered to a worker that died before storing or
caching the answer is paid again by the redelivered task).
"""

from __future__ import annotations

import random
import time

from sieve.bench.faults.llm import SwitchableLLM
from sieve.bench.faults.registry import Row, scenario, tallied_row
from sieve.bench.faults.rig import Rig
from sieve.bench.faults.suite import ESCALATED_SHARE, Suite

KILLS = 3
SEED = 10
POLL_S = 0.05


@scenario("sigkill", "SIGKILL of the stream worker and of a Celery worker, 3 times each")
def sigkill(suite: Suite, short: bool) -> Row:
    messages = 1_000 if short else 10_000
    timeout_s = 300 if short else 1_800
    rng = random.Random(SEED)
    stream_marks = sorted(int(rng.uniform(0.1, 0.9) * messages) for _ in range(KILLS))
    expected = ESCALATED_SHARE * messages
    celery_marks = sorted(int(rng.uniform(0.1, 0.8) * expected) for _ in range(KILLS))
    with SwitchableLLM(suite.teacher) as llm, Rig(suite, "sigkill", messages) as rig:
        env = rig.env(llm.base_url)
        rig.start(env, "beat")
        workers = [rig.start(env, "worker"), rig.start(env, "worker")]
        stream = rig.start(env, "stream")
        rig.produce(0, messages)
        stream_kills = celery_kills = 0
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if stream_kills < KILLS and rig.predicted() >= stream_marks[stream_kills]:
                stream.kill()
                stream = rig.start(env, "stream")
                stream_kills += 1
            if celery_kills < KILLS and rig.answered() >= celery_marks[celery_kills]:
                victim = rng.randrange(len(workers))
                workers[victim].kill()
                workers[victim] = rig.start(env, "worker")
                celery_kills += 1
            if stream_kills == celery_kills == KILLS and rig.settled():
                break
            time.sleep(POLL_S)
        tally = rig.tally()
        paid = llm.paid_calls
    return tallied_row(
        "sigkill",
        messages,
        tally,
        paid,
        checks=(
            (f"{KILLS} stream and {KILLS} Celery kills", stream_kills == celery_kills == KILLS),
            (
                "paid calls <= distinct texts + Celery kills",
                paid <= tally.distinct_texts + celery_kills,
            ),
        ),
        detail=f"{tally.escalated} escalated; kills: {stream_kills} stream, {celery_kills} Celery",
    )

"""Scenarios `postgres-outage` and `llm-outage`: a dependency goes away mid-run and comes back.

`postgres-outage` runs on a PostgreSQL cluster the suite starts itself (cluster.py) and
stops with a fast shutdown once a quarter of the messages are stored, the second half of
the messages produced while it is down; passes when, after it is back, nothing is lost, no
row is duplicated, and no worker died of it (the stream worker waits for the store, the
Celery tasks retry).

`llm-outage` closes the simulator's socket once the first third of the messages is
settled, produces the second third while it is down, and brings it back on the same
address after the outage. Passes when the stream kept flowing (the second third all
predicted before the endpoint returned), every escalation was labeled within a bound after
the restart, nothing is lost or duplicated, and no text was paid twice.
"""

from __future__ import annotations

import time

from sieve.bench.faults.cluster import PostgresCluster
from sieve.bench.faults.llm import SwitchableLLM
from sieve.bench.faults.registry import Row, scenario, tallied_row
from sieve.bench.faults.rig import Rig, wait_for
from sieve.bench.faults.suite import Suite
from sieve.demo.processes import CliProcess


@scenario("postgres-outage", "PostgreSQL (the suite's own cluster) stopped mid-run")
def postgres_outage(suite: Suite, short: bool) -> Row:
    messages = 600 if short else 3_000
    outage_s = 8.0 if short else 30.0
    half = messages // 2
    with (
        PostgresCluster() as cluster,
        SwitchableLLM(suite.teacher) as llm,
        Rig(
            suite,
            "postgres-outage",
            messages,
            database_url=cluster.create_database("sieve_faults"),
        ) as rig,
    ):
        env = rig.env(llm.base_url)
        processes = [rig.start(env, "beat"), rig.start(env, "worker"), rig.start(env, "stream")]
        rig.produce(0, half)
        reached = wait_for(lambda: rig.predicted() >= messages // 4, 120, interval_s=0.05)
        cluster.stop()
        stopped_at = time.monotonic()
        rig.produce(half, messages)
        time.sleep(max(0.0, outage_s - (time.monotonic() - stopped_at)))
        cluster.start()
        settled = wait_for(rig.settled, 120 if short else 600)
        survived = all(process.alive() for process in processes)
        waits = rig.log_lines("stream", "database unavailable")
        tally = rig.tally()
        paid = llm.paid_calls
    return tallied_row(
        "postgres-outage",
        messages,
        tally,
        paid,
        checks=(
            ("stopped mid-run", reached),
            ("the stream worker waited for the store", waits > 0),
            ("settled after the outage", settled),
            ("no process died", survived),
        ),
        detail=f"{tally.escalated} escalated; down {outage_s:.0f} s; "
        f"the stream worker waited {waits} times",
    )


@scenario("llm-outage", "the LLM endpoint down mid-run: the stream flows, the backlog drains")
def llm_outage(suite: Suite, short: bool) -> Row:
    messages = 600 if short else 3_000
    outage_s = 10.0 if short else 120.0
    drain_bound_s = 60.0 if short else 180.0
    third = messages // 3
    with SwitchableLLM(suite.teacher) as llm, Rig(suite, "llm-outage", messages) as rig:
        env = rig.env(
            llm.base_url,
            LLM__RETRY_CAP_S="4" if short else "10",
            # The drain must not pile twins onto tasks that are merely retrying.
            CELERY__REQUEUE_ENQUEUED_AFTER_S=str(int(outage_s) + 60),
        )
        processes: list[CliProcess] = [rig.start(env, "beat")]
        processes += [rig.start(env, "worker"), rig.start(env, "worker")]
        processes.append(rig.start(env, "stream"))
        rig.produce(0, third)
        warm = wait_for(lambda: rig.settled(third), 180)
        llm.down()
        down_at = time.monotonic()
        answered_at_down = rig.answered()
        rig.produce(third, 2 * third)
        flowed = wait_for(lambda: rig.predicted() >= 2 * third, outage_s)
        time.sleep(max(0.0, outage_s - (time.monotonic() - down_at)))
        answered_at_up = rig.answered()
        llm.up()
        up_at = time.monotonic()
        rig.produce(2 * third, messages)
        drained = wait_for(rig.settled, drain_bound_s)
        drain_s = time.monotonic() - up_at
        survived = all(process.alive() for process in processes)
        tally = rig.tally()
        paid = llm.paid_calls
    return tallied_row(
        "llm-outage",
        messages,
        tally,
        paid,
        checks=(
            ("first third settled before the outage", warm),
            ("stream flowed during the outage", flowed),
            ("nothing labeled while down", answered_at_up == answered_at_down),
            (f"backlog drained within {drain_bound_s:.0f} s of the restart", drained),
            ("paid calls <= distinct texts", paid <= tally.distinct_texts),
            ("no process died", survived),
        ),
        detail=f"{tally.escalated} escalated; down {outage_s:.0f} s; "
        f"drained {drain_s:.1f} s after restart",
    )

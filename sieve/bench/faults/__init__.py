"""`make faults`: the fault suite. Each scenario runs Sieve on real services (the embedded
Kafka-protocol broker, Redis, PostgreSQL, Celery and stream worker subprocesses, the teacher
simulator), breaks something, and reports one row: messages, lost, duplicate rows, paid
calls vs distinct texts, spend vs budget, pass or FAIL.

    registry.py  the scenarios by name and the Row they report (add new ones there)
    suite.py     what every scenario shares: broker, student, teacher, texts
    rig.py       one scenario's services and subprocesses
    (sieve/store/tally.py: what the store holds after a run: lost, duplicates, texts)
    cluster.py   a PostgreSQL cluster of the suite's own, to stop and start
    llm.py       the simulator on a fixed address, to take down and bring back
    kill.py      sigkill;  outages.py  postgres-outage, llm-outage
    spend.py     llm-faults (429/5xx/hangs vs the ledger), budget
    admin.py     admin (no token, a 200 MB body, secrets in the log)
    run.py       `sieve bench faults`: run, print the table, exit non-zero on a FAIL
"""

# Importing the scenario modules registers them.
from sieve.bench.faults import admin, kill, outages, spend  # noqa: F401
from sieve.bench.faults.registry import SCENARIOS, Row, Scenario

__all__ = ["SCENARIOS", "Row", "Scenario"]

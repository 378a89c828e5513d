"""The label store (PostgreSQL, or SQLite for the embedded demo) and the only package that
holds SQL (``tests/unit/test_layers.py`` keeps it so): ``tables.py`` (schema; ``columns.py``
is what other packages may know of it), ``engine.py``, ``migrate.py``, and one module per
aggregate —

- ``repository.py``: messages and predictions (idempotent upserts, one transaction a batch);
- ``escalations.py``: escalations and their forward-only status (pending, enqueued,
  deferred, failed, labeled);
- ``labels.py``: LLM and human labels; ``ledger.py``: every request sent to the LLM;
  ``label_task.py``: what one LLM labeling task reads and writes, in few round trips;
- ``versions.py``: model versions and activations; ``training.py``: training data and
  retraining runs;
- ``coordination.py``: leases and the answer cache without Redis; ``spend.py``: the LLM
  limits' counters without Redis;
- ``stats.py`` and ``outcomes.py``: what /stats, the metrics, the demo and the benchmarks
  read; ``routing_stats.py``: decisions per routing rule and drift windows for /stats;
  ``tally.py``: what the fault suite counts after a run (lost, duplicates)."""

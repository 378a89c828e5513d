"""The long-running processes, one sub-package each, over a few shared modules:
``kafka_adapter.py`` (the Kafka client), ``error_policy.py`` (transient or permanent, and
the waits), ``label_set.py`` (one label set per deployment), ``metrics_http.py``.

- ``stream/``: the stream worker — poll, decode, classify, route, checkpoint.
- ``llm/``: the Celery app and the labeling worker — escalations to labels.
- ``distill/``: retraining — train, calibrate, gate, promote."""

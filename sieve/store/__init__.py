"""The label store (PostgreSQL, or SQLite for the embedded demo) and the only package that
holds SQL: ``tables.py`` (schema), ``engine.py``, ``migrate.py``, and one module per
aggregate — ``repository.py`` (messages, predictions, escalations, model versions),
``labels.py`` (LLM and human labels, escalation states, costs), ``training.py`` (training
data and retraining runs), ``coordination.py`` (leases without Redis), ``stats.py``."""

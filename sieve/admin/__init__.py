"""The admin API (FastAPI): retraining runs, model versions (promote, roll back), backlog
labeling jobs, stats, health and Prometheus metrics. Routes are thin: they call the store
and the services handed in at app creation (``deps.py``), built by ``sieve.wiring``."""

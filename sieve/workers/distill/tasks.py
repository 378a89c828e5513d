"""The retraining tasks, run by the same Celery workers as the labeling tasks. Retraining
imports the trainers (torch for some families) only inside the task bodies: a worker that
never retrains never loads them."""

from __future__ import annotations

from sieve.workers.llm.celery_app import MAYBE_RETRAIN, RETRAIN, app
from sieve.workers.llm.tasks import worker_context, worker_settings


@app.task(name=RETRAIN, acks_late=True)
def retrain(run_id: str) -> str:
    from sieve.models.registry import open_registry
    from sieve.workers.distill.retrain import run_retrain

    settings = worker_settings()
    run = run_retrain(settings, worker_context().engine, open_registry(settings), run_id)
    return str(run["status"])


@app.task(name=MAYBE_RETRAIN)
def maybe_retrain() -> str | None:
    """The beat schedule: retrain when enough new labels arrived since the last run, or
    as soon as the minimum exists while no model is active (cold start)."""
    from sieve.store.training import RunTrigger, labels_since, last_run_started
    from sieve.store.versions import active_model_version
    from sieve.workers.distill.retrain import request_retrain

    settings = worker_settings()
    engine = worker_context().engine
    config = settings.retrain
    cold = active_model_version(engine) is None
    needed = config.min_labels if cold else config.min_new_labels
    new_labels = labels_since(engine, None if cold else last_run_started(engine))
    if new_labels < needed:
        return None
    return request_retrain(settings, engine, trigger=RunTrigger.SCHEDULE)

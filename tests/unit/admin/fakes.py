"""A Retrainer for the admin API tests: runs are kept in memory, activations in the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from sieve.core.errors import PermanentError
from sieve.core.settings import Settings
from sieve.store.training import RunStatus, RunTrigger
from sieve.store.versions import activate_model_version, activation_history


class FakeRetrainer:
    """Implements sieve.admin.deps.Retrainer. A queued or running run is reused, as the
    real service does; ``fail_with`` makes request_retrain raise."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[Settings, Engine, RunTrigger]] = []
        self.promotions: list[tuple[str, str]] = []
        self.rollbacks = 0
        self.fail_with: Exception | None = None

    def request_retrain(self, settings: Settings, engine: Engine, *, trigger: RunTrigger) -> str:
        self.requests.append((settings, engine, trigger))
        if self.fail_with is not None:
            raise self.fail_with
        for run in self.runs.values():
            if run["status"] in (RunStatus.QUEUED, RunStatus.RUNNING):
                return str(run["id"])
        run_id = f"run-{len(self.runs) + 1}"
        self.runs[run_id] = {
            "id": run_id,
            "status": RunStatus.QUEUED,
            "trigger": trigger,
            "model_version": None,
            "metrics": None,
            "promoted": None,
            "error": None,
            "created_at": datetime.now(UTC),
            "finished_at": None,
        }
        return run_id

    def get_run(self, engine: Engine, run_id: str) -> dict[str, Any] | None:
        return self.runs.get(run_id)

    def promote(self, engine: Engine, version: str, reason: str) -> None:
        self.promotions.append((version, reason))
        activate_model_version(engine, version, reason=reason)

    def rollback(self, engine: Engine) -> str:
        self.rollbacks += 1
        history = activation_history(engine)
        if not history:
            raise PermanentError("no model version is active")
        current = history[0]
        previous = next((version for version in history[1:] if version != current), None)
        if previous is None:
            raise PermanentError(f"nothing to roll back to: {current} is the only version used")
        activate_model_version(engine, previous, reason=f"rollback from {current}")
        return previous

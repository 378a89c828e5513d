"""Model versions: list them, promote one, roll the active one back."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, status

from sieve.admin.auth import RequireToken
from sieve.admin.deps import EngineDep, RetrainerDep
from sieve.admin.schemas import Activation, ChangeReason, ModelList, ModelVersion
from sieve.core.errors import ModelNotFound, PermanentError
from sieve.models.versions import is_version_name
from sieve.store.versions import active_model_version, get_model_version, list_model_versions

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=ModelList)
def list_models(engine: EngineDep) -> ModelList:
    rows = list_model_versions(engine)
    models = [
        ModelVersion(
            version=record.version,
            family=record.family,
            status=record.status,
            status_reason=record.status_reason,
            data_hash=record.data_hash,
            metrics=record.metrics,
            active=active,
        )
        for record, active in rows
    ]
    active_version = next((model.version for model in models if model.active), None)
    return ModelList(active_version=active_version, models=models)


@router.post("/{version}/promote", response_model=Activation, dependencies=[RequireToken])
def promote(
    version: str, engine: EngineDep, retrainer: RetrainerDep, body: ChangeReason | None = None
) -> Activation:
    """Make ``version`` active by hand, bypassing the promotion gate."""
    _check_name(version)
    reason = (body.reason if body else None) or "promoted from the admin API"
    previous = active_model_version(engine)
    try:
        retrainer.promote(engine, version, reason)
    except ModelNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    logger.info("model %s promoted from the admin API (was %s): %s", version, previous, reason)
    return Activation(active_version=version, previous_version=previous)


@router.post("/{version}/rollback", response_model=Activation, dependencies=[RequireToken])
def rollback(version: str, engine: EngineDep, retrainer: RetrainerDep) -> Activation:
    """Reactivate the version that was active before ``version``, which must be the
    active one: naming it guards against rolling back a version someone just replaced."""
    _check_name(version)
    try:
        get_model_version(engine, version)
    except ModelNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    active = active_model_version(engine)
    if version != active:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{version!r} is not the active version (active: {active!r}); "
            "only the active version can be rolled back",
        )
    try:
        restored = retrainer.rollback(engine)
    except PermanentError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    logger.info("model %s rolled back from the admin API: %s is active again", version, restored)
    return Activation(active_version=restored, previous_version=version)


def _check_name(version: str) -> None:
    """404 at once for a name no version can have (too long, characters outside the set):
    it reaches neither the store nor the retrainer."""
    if not is_version_name(version):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"not a model version: {version[:40]!r}")

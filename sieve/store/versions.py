"""Model versions and which one is active.

``model_versions`` holds every registered artefact with its status; ``model_activations``
is an append-only history whose newest row is the active version (a rollback appends the
previous one again, so the log also tells who was active when).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select

from sieve.core.errors import ModelNotFound
from sieve.store.repository import reading, storable_key, upsert
from sieve.store.tables import model_activations, model_versions


class ModelStatus(StrEnum):
    """A model version's standing (``model_versions.status``)."""

    REGISTERED = "registered"  # may be activated
    ACTIVE = "active"  # the one version the stream worker serves
    REJECTED = "rejected"  # a retraining's candidate the promotion gate refused


@dataclass(frozen=True)
class ModelVersionRecord:
    version: str
    family: str
    path: str
    data_hash: str
    metrics: dict[str, Any]
    status: ModelStatus = ModelStatus.REGISTERED
    status_reason: str | None = None


def register_model_version(engine: Engine, record: ModelVersionRecord) -> None:
    with engine.begin() as conn:
        upsert(
            conn,
            model_versions,
            [vars(record)],
            update=("path", "metrics", "status", "status_reason"),
        )


def activate_model_version(engine: Engine, version: str, reason: str) -> None:
    if not storable_key(version):
        raise ModelNotFound(f"model version {version!r} is not registered")
    with engine.begin() as conn:
        known = conn.execute(
            select(model_versions.c.version).where(model_versions.c.version == version)
        ).first()
        if known is None:
            raise ModelNotFound(f"model version {version!r} is not registered")
        conn.execute(model_activations.insert().values(version=version, reason=reason))
        # One row says "active": the one just activated.
        conn.execute(
            model_versions.update()
            .where(model_versions.c.status == ModelStatus.ACTIVE)
            .values(status=ModelStatus.REGISTERED)
        )
        conn.execute(
            model_versions.update()
            .where(model_versions.c.version == version)
            .values(status=ModelStatus.ACTIVE, status_reason=reason)
        )


def active_model_version(engine: Engine) -> str | None:
    query = select(model_activations.c.version).order_by(model_activations.c.id.desc()).limit(1)
    with reading(engine) as conn:
        return conn.execute(query).scalar_one_or_none()


def get_model_version(engine: Engine, version: str) -> ModelVersionRecord:
    if not storable_key(version):
        raise ModelNotFound(f"model version {version!r} is not registered")
    query = select(
        model_versions.c.version,
        model_versions.c.family,
        model_versions.c.path,
        model_versions.c.data_hash,
        model_versions.c.metrics,
        model_versions.c.status,
        model_versions.c.status_reason,
    ).where(model_versions.c.version == version)
    with reading(engine) as conn:
        row = conn.execute(query).first()
    if row is None:
        raise ModelNotFound(f"model version {version!r} is not registered")
    return ModelVersionRecord(
        row.version,
        row.family,
        row.path,
        row.data_hash,
        row.metrics,
        ModelStatus(row.status),
        row.status_reason,
    )


def list_model_versions(engine: Engine) -> list[tuple[ModelVersionRecord, bool]]:
    """Every version, newest first, with whether it is the active one."""
    active = active_model_version(engine)
    query = select(model_versions.c.version).order_by(model_versions.c.created_at.desc())
    with engine.connect() as conn:
        versions = list(conn.execute(query).scalars())
    return [(get_model_version(engine, version), version == active) for version in versions]


def activation_history(engine: Engine) -> list[str]:
    """Every activated version, newest activation first (a version may appear twice)."""
    query = select(model_activations.c.version).order_by(model_activations.c.id.desc())
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())

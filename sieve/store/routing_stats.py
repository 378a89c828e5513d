"""What the admin API's /stats shows of routing beyond escalation shares: decisions per
routing rule, and drift of the active model's decisions (sieve.routing.drift) read from the
predictions table, so it covers every stream worker together.

Drift windows are the active version's decisions a rule did not make, in the order they
were stored (created_at, then message id): the reference is its first ``window`` (the
traffic right after it was promoted) or the ``window`` before the current one; the
current window is its latest ``window``, never overlapping the reference.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select

from sieve.core.settings import DriftReference, DriftSettings
from sieve.routing.drift import Observation, SignalDrift, compare
from sieve.routing.policy import Route
from sieve.routing.rules import RULE_REASON_PREFIX, rule_name_of
from sieve.store.tables import predictions
from sieve.store.versions import active_model_version

_RULED = predictions.c.reason.like(f"{RULE_REASON_PREFIX}%")


def rule_decisions(
    engine: Engine, *, hours: int = 24, now: datetime | None = None
) -> dict[str, int]:
    """Decisions per routing rule over the last ``hours``, by rule name."""
    since = (now or datetime.now(UTC)) - timedelta(hours=hours)
    query = (
        select(predictions.c.reason, func.count())
        .where(_RULED, predictions.c.created_at >= since)
        .group_by(predictions.c.reason)
    )
    with engine.connect() as conn:
        counted = {rule_name_of(reason): int(n) for reason, n in conn.execute(query)}
    return {name: n for name, n in sorted(counted.items()) if name is not None}


def stored_drift(engine: Engine, settings: DriftSettings) -> list[SignalDrift]:
    """The drift signals of the active version's decisions; no verdict (score None) while
    it has too few, or when no version is active."""
    version = active_model_version(engine)
    if version is None:
        return compare([], [], settings)
    base = select(predictions.c.label, predictions.c.confidence, predictions.c.route).where(
        predictions.c.model_version == version, ~_RULED
    )
    oldest_first = (predictions.c.created_at, predictions.c.message_id)
    newest_first = tuple(column.desc() for column in oldest_first)
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(base.subquery())).scalar_one())
        window = settings.window
        if settings.reference == DriftReference.FIRST:
            reference = _read(conn, base.order_by(*oldest_first).limit(window))
            current_size = max(min(window, total - window), 0)
            current = _read(conn, base.order_by(*newest_first).limit(current_size))
        else:
            current = _read(conn, base.order_by(*newest_first).limit(window))
            reference = _read(conn, base.order_by(*newest_first).offset(window).limit(window))
    return compare(reference, current, settings)


def _read(conn: Connection, query: Select[Any]) -> list[Observation]:
    return [
        Observation(label, float(confidence), route == Route.ESCALATE)
        for label, confidence, route in conn.execute(query)
    ]

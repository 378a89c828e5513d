"""The stream worker's drift alerts: its model decisions, in tumbling windows, against a
reference window (sieve.routing.drift); every completed window sets the Prometheus gauges
``sieve_drift_score``/``_bound``/``_alert`` per signal and logs its figures, as a WARNING
when a signal is above its bound. In memory and per process: with several workers each
watches its own partitions; the admin API's /stats reads the same signals from the store
for all of them together.
"""

from __future__ import annotations

import logging

from sieve.core import metrics
from sieve.core.settings import DriftSettings
from sieve.routing.drift import DriftWindows, Observation, SignalDrift
from sieve.routing.policy import Route
from sieve.routing.rules import rule_name_of
from sieve.store.columns import NO_MODEL_VERSION
from sieve.store.repository import PredictionRecord

logger = logging.getLogger(__name__)


class DriftWatch:
    def __init__(self, settings: DriftSettings) -> None:
        self._settings = settings
        self._windows = DriftWindows(settings)
        self.last: list[SignalDrift] | None = None  # the latest verdict, for tests and logs

    def restart(self) -> None:
        """A model swap: start a new reference window."""
        self._windows.restart()

    def observe(self, rows: list[PredictionRecord]) -> None:
        if not self._settings.enabled:
            return
        for verdict in self._windows.add(model_decisions(rows)):
            self.last = verdict
            _publish(verdict)


def model_decisions(rows: list[PredictionRecord]) -> list[Observation]:
    """The rows a model decided: not a routing rule's, not made without a model."""
    return [
        Observation(row.label, row.confidence, row.route == Route.ESCALATE)
        for row in rows
        if row.model_version != NO_MODEL_VERSION and rule_name_of(row.reason) is None
    ]


def _publish(verdict: list[SignalDrift]) -> None:
    for signal in verdict:
        if signal.score is None:
            continue
        metrics.DRIFT_SCORE.labels(signal.signal.value).set(signal.score)
        metrics.DRIFT_BOUND.labels(signal.signal.value).set(signal.bound)
        metrics.DRIFT_ALERT.labels(signal.signal.value).set(1.0 if signal.alert else 0.0)
    figures = "; ".join(
        f"{s.signal.value} {s.score:.3f} (bound {s.bound:g}, noise ~{s.noise:.3f})"
        for s in verdict
        if s.score is not None and s.noise is not None
    )
    alerts = [s.signal.value for s in verdict if s.alert]
    size = f"{verdict[0].current_messages} messages against {verdict[0].reference_messages}"
    if alerts:
        logger.warning("drift alert on %s over %s: %s", ", ".join(alerts), size, figures)
    else:
        logger.info("no drift over %s: %s", size, figures)

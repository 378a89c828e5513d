"""Hot swap: the stream worker asks the store for the active version between batches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Engine

from sieve.core import metrics
from sieve.core.errors import ModelNotFound, SieveError, TransientError
from sieve.models.classifier import FastClassifier
from sieve.models.families import load_classifier
from sieve.routing.thresholds import RoutingThresholds
from sieve.store.versions import active_model_version, get_model_version

logger = logging.getLogger(__name__)

Loader = Callable[[Path], FastClassifier]


class ActiveModel:
    """Holds the active classifier; ``refresh`` loads a newly activated version."""

    def __init__(
        self,
        engine: Engine,
        *,
        check_interval_s: float,
        loader: Loader = load_classifier,
        clock: Callable[[], float] = time.monotonic,
        labels: Sequence[str] | None = None,
    ) -> None:
        """``labels``: the deployment's label set; a version predicting other labels is
        refused (the worker checks the version active at start-up before it runs)."""
        self._engine = engine
        self._check_interval_s = check_interval_s
        self._loader = loader
        self._clock = clock
        self._next_check = 0.0
        self._labels = frozenset(labels) if labels is not None else None
        self._refused: str | None = None
        self.classifier: FastClassifier | None = None
        # The active version's calibrated thresholds (None for a version without them).
        self.thresholds: RoutingThresholds | None = None

    @property
    def version(self) -> str | None:
        return self.classifier.version if self.classifier is not None else None

    def refresh(self, *, force: bool = False) -> bool:
        """Swap in the active version if it changed; True when a swap happened."""
        now = self._clock()
        if not force and now < self._next_check:
            return False
        wanted = active_model_version(self._engine)  # TransientError: the caller waits
        self._next_check = now + self._check_interval_s
        if wanted is None or wanted in (self.version, self._refused):
            return False
        try:
            record = get_model_version(self._engine, wanted)
            classifier = self._loader(Path(record.path))
        except TransientError:
            # The store is down: the batch waits for it rather than being classified by
            # the old version (or by none, at start-up).
            self._next_check = now
            raise
        except (ModelNotFound, SieveError, OSError) as exc:
            # Keep serving the version we have; the next check tries again.
            logger.error("cannot load model version %s, keeping %s: %s", wanted, self.version, exc)
            return False
        if self._labels is not None and frozenset(classifier.labels) != self._labels:
            # Its predictions and the LLM's answers would come from two label sets.
            logger.error(
                "model version %s predicts other labels than SIEVE_LABELS_FILE: not loaded, "
                "keeping %s",
                wanted,
                self.version,
            )
            self._refused = wanted
            return False
        logger.info("model version %s is active (was %s)", wanted, self.version)
        self.classifier = classifier
        self.thresholds = _thresholds(record.metrics)
        metrics.ACTIVE_MODEL.clear()
        metrics.ACTIVE_MODEL.labels(wanted).set(1)
        return True


def _thresholds(metrics: dict[str, object]) -> RoutingThresholds | None:
    routing = metrics.get("routing")
    if not isinstance(routing, dict):
        return None
    try:
        return RoutingThresholds.from_dict(routing)
    except ValueError as exc:
        logger.warning("ignoring unreadable routing thresholds: %s", exc)
        return None

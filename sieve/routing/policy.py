"""The routing decision: keep the fast model's label, or escalate the message to the LLM.

A pure function of the prediction and the thresholds, so that every edge is a row in a
table-driven test. Rules are checked in a fixed order and the first that fires is the
reason recorded with the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from sieve.core.settings import RoutingSettings


class Route(StrEnum):
    ACCEPT = "accept"
    ESCALATE = "escalate"


class Reason(StrEnum):
    CONFIDENT = "confident"
    NO_MODEL = "no_model"
    TEXT_TOO_LONG = "text_too_long"
    LOW_CONFIDENCE = "low_confidence"
    LOW_MARGIN = "low_margin"


@dataclass(frozen=True)
class Prediction:
    """The fast model's view of one message; ``probabilities`` follow ``labels``."""

    labels: Sequence[str]
    probabilities: np.ndarray

    @property
    def top(self) -> tuple[str, float, float]:
        """(label, confidence, margin): top-1 label, its probability, top-1 minus top-2."""
        probs = self.probabilities
        first = int(np.argmax(probs))  # ties go to the label listed first
        if probs.shape[0] == 1:
            return self.labels[first], float(probs[first]), float(probs[first])
        second = float(np.max(np.delete(probs, first)))
        return self.labels[first], float(probs[first]), float(probs[first]) - second


@dataclass(frozen=True)
class Decision:
    route: Route
    reason: Reason
    label: str | None
    confidence: float
    margin: float


def decide(prediction: Prediction | None, text: str, settings: RoutingSettings) -> Decision:
    """Route one message. ``prediction`` is None when no model is active."""
    if prediction is None:
        return Decision(Route.ESCALATE, Reason.NO_MODEL, None, 0.0, 0.0)
    label, confidence, margin = prediction.top
    if len(text) > settings.max_text_chars:
        reason = Reason.TEXT_TOO_LONG
    elif confidence < settings.min_confidence:
        reason = Reason.LOW_CONFIDENCE
    elif margin < settings.min_margin:
        reason = Reason.LOW_MARGIN
    else:
        return Decision(Route.ACCEPT, Reason.CONFIDENT, label, confidence, margin)
    return Decision(Route.ESCALATE, reason, label, confidence, margin)

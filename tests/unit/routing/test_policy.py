import numpy as np
import pytest

from sieve.core.settings import RoutingSettings
from sieve.routing.policy import Prediction, Reason, Route, decide

LABELS = ("a", "b", "c")
# Dyadic probabilities are exact in float32, so "at the threshold" really is at it.
SETTINGS = RoutingSettings(min_confidence=0.5, min_margin=0.25, max_text_chars=20)


def prediction(*probs: float) -> Prediction:
    return Prediction(LABELS, np.asarray(probs, dtype=np.float32))


@pytest.mark.parametrize(
    ("probs", "text", "route", "reason", "label"),
    [
        # confidence edge: exactly at the threshold is kept, just below escalates
        ((0.5, 0.25, 0.25), "short", Route.ACCEPT, Reason.CONFIDENT, "a"),
        ((0.4921875, 0.25, 0.2578125), "short", Route.ESCALATE, Reason.LOW_CONFIDENCE, "a"),
        # margin edge: top-1 minus top-2 at the threshold is kept, below escalates
        ((0.0, 0.25, 0.75), "short", Route.ACCEPT, Reason.CONFIDENT, "c"),
        ((0.0, 0.3125, 0.6875), "short", Route.ACCEPT, Reason.CONFIDENT, "c"),
        ((0.0, 0.40625, 0.59375), "short", Route.ESCALATE, Reason.LOW_MARGIN, "c"),
        # long text escalates even when confident; the limit itself is allowed
        ((1.0, 0.0, 0.0), "x" * 21, Route.ESCALATE, Reason.TEXT_TOO_LONG, "a"),
        ((1.0, 0.0, 0.0), "x" * 20, Route.ACCEPT, Reason.CONFIDENT, "a"),
        # rules fire in order: length before confidence before margin
        ((0.375, 0.375, 0.25), "x" * 21, Route.ESCALATE, Reason.TEXT_TOO_LONG, "a"),
        ((0.375, 0.375, 0.25), "short", Route.ESCALATE, Reason.LOW_CONFIDENCE, "a"),
        # a tie at the top goes to the first label and has no margin
        ((0.0, 0.5, 0.5), "short", Route.ESCALATE, Reason.LOW_MARGIN, "b"),
    ],
)
def test_decide_edges(probs, text, route, reason, label):
    decision = decide(prediction(*probs), text, SETTINGS)
    assert (decision.route, decision.reason, decision.label) == (route, reason, label)


def test_no_model_escalates_everything():
    decision = decide(None, "anything", SETTINGS)
    assert decision.route is Route.ESCALATE
    assert decision.reason is Reason.NO_MODEL
    assert decision.label is None


def test_confidence_and_margin_are_reported():
    decision = decide(prediction(0.75, 0.125, 0.125), "short", SETTINGS)
    assert decision.confidence == 0.75
    assert decision.margin == 0.625


def test_single_label_model_has_full_margin():
    single = Prediction(("only",), np.asarray([1.0], dtype=np.float32))
    assert decide(single, "t", SETTINGS).route is Route.ACCEPT

"""The routing decision: keep the fast model's label, or escalate the message to the LLM.

A pure function of the prediction and the thresholds, so that every edge is a row in a
table-driven test. Rules are checked in a fixed order and the first that fires is the
reason recorded with the decision:

0. The operator's routing rules (``rules.py``) come first, before the model is asked:
   ``decide_by_rule`` gives a matched message its rule's decision, reason ``RULE``, stored
   as ``rule:<name>``. A message a rule decides is never scored (see the stream batch).
1. no active model → ``NO_MODEL``; text longer than ``max_text_chars`` → ``TEXT_TOO_LONG``
   when ``long_text`` is ``escalate`` (by default the student scores its first characters).
2. The confidence gate, in one of two modes:
   - *share mode* (the caller passes ``share_threshold``, computed from recent traffic for
     a target LLM share): confidence below it → ``TARGET_SHARE``, and nothing else. The
     share gate replaces the precision rules below, because any rule added to it would
     push the realised share above the target the operator set.
   - *precision mode* (otherwise), with calibrated ``thresholds``: the message's
     similarity to its nearest training example below ``thresholds.min_similarity`` →
     ``UNSEEN`` (the model has never seen anything like it: its confidence says nothing);
     confidence below the label's calibrated threshold → ``BELOW_LABEL_THRESHOLD``.
     Without them (a model from ``sieve train``, never calibrated): confidence below
     ``min_confidence`` → ``LOW_CONFIDENCE``; top-1 minus top-2 below ``min_margin`` →
     ``LOW_MARGIN``. The fixed floors are guesses; the calibrated thresholds are measured,
     so the floors step aside for them.
3. Exploration: a message that passed the gate escalates anyway when the caller's
   uniform draw in [0, 1) is below ``exploration_rate`` → ``EXPLORATION``. This random
   sample of kept messages is what measures the fast model's accuracy on what it keeps.
4. Otherwise the model's label is kept → ``CONFIDENT``.

Randomness stays with the caller, so the function stays pure: ``exploration_draw`` turns
(seed, message id) into the draw, so a redelivered message is routed the same way again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from sieve.core.settings import RoutingSettings
from sieve.routing.rules import RULE_REASON_PREFIX, RuleAction, RuleSet
from sieve.routing.thresholds import RoutingThresholds


class Route(StrEnum):
    ACCEPT = "accept"
    ESCALATE = "escalate"


class Reason(StrEnum):
    """Stored as text in the predictions and escalations tables: at most 32 characters."""

    CONFIDENT = "confident"
    NO_MODEL = "no_model"
    TEXT_TOO_LONG = "text_too_long"
    LOW_CONFIDENCE = "low_confidence"
    LOW_MARGIN = "low_margin"
    BELOW_LABEL_THRESHOLD = "below_label_threshold"
    TARGET_SHARE = "target_share"
    EXPLORATION = "exploration"
    UNSEEN = "unseen"
    RULE = "rule"  # stored as "rule:<name>" (Decision.stored_reason)


@dataclass(frozen=True)
class Prediction:
    """The fast model's view of one message; ``probabilities`` follow ``labels``.
    ``similarity``: to the nearest training example (None: the model cannot say)."""

    labels: Sequence[str]
    probabilities: np.ndarray
    similarity: float | None = None
    # ``top`` worked out beforehand for a whole batch (``predictions``); None: on demand.
    known_top: tuple[str, float, float] | None = field(default=None, repr=False, compare=False)

    @property
    def top(self) -> tuple[str, float, float]:
        """(label, confidence, margin): top-1 label, its probability, top-1 minus top-2."""
        if self.known_top is not None:
            return self.known_top
        probs = self.probabilities
        first = int(np.argmax(probs))  # ties go to the label listed first
        if probs.shape[0] == 1:
            return self.labels[first], float(probs[first]), float(probs[first])
        second = float(np.max(np.delete(probs, first)))
        return self.labels[first], float(probs[first]), float(probs[first]) - second


def predictions_of(
    labels: Sequence[str], probs: np.ndarray, similarity: np.ndarray | None = None
) -> list[Prediction]:
    """One Prediction per row of ``probs`` (float [N, K]), their ``top`` computed for all
    rows at once: numpy calls per message cost more than the routing itself."""
    count = len(probs)
    if count == 0:
        return []
    first = np.argmax(probs, axis=1)  # ties go to the label listed first, as in ``top``
    confidence = probs[np.arange(count), first]
    if probs.shape[1] == 1:
        margin = confidence
    else:
        second = np.partition(probs, probs.shape[1] - 2, axis=1)[:, -2]
        margin = confidence - second
    sims = [None] * count if similarity is None else similarity.tolist()
    return [
        Prediction(labels, row, sim, (labels[index], conf, gap))
        for row, sim, index, conf, gap in zip(
            probs, sims, first.tolist(), confidence.tolist(), margin.tolist(), strict=True
        )
    ]


@dataclass(frozen=True)
class Decision:
    route: Route
    reason: Reason
    label: str | None
    confidence: float
    margin: float
    # The routing rule that decided, for reason RULE; None: the model and the policy did.
    rule: str | None = None

    @property
    def stored_reason(self) -> str:
        """The reason as stored and announced: the rule's name for rule decisions."""
        return f"{RULE_REASON_PREFIX}{self.rule}" if self.rule is not None else self.reason.value


def decide_by_rule(rules: RuleSet, text: str) -> Decision | None:
    """The decision of the first rule ``text`` matches, or None: the model decides.
    Confidence and margin are 1.0 for a forced label (the operator is sure), 0.0 for a
    forced escalation, as for a message no model scored."""
    rule = rules.first_match(text)
    if rule is None:
        return None
    if rule.action is RuleAction.LABEL:
        return Decision(Route.ACCEPT, Reason.RULE, rule.label, 1.0, 1.0, rule.name)
    return Decision(Route.ESCALATE, Reason.RULE, None, 0.0, 0.0, rule.name)


def decide(
    prediction: Prediction | None,
    text: str,
    settings: RoutingSettings,
    *,
    thresholds: RoutingThresholds | None = None,
    share_threshold: float | None = None,
    explore_draw: float | None = None,
) -> Decision:
    """Route one message. ``prediction`` is None when no model is active.

    ``thresholds``: the active model's calibrated per-label thresholds (precision mode).
    ``share_threshold``: the confidence threshold for the target LLM share (share mode).
    ``explore_draw``: a uniform draw in [0, 1) for exploration; None: no exploration.
    """
    if prediction is None:
        return Decision(Route.ESCALATE, Reason.NO_MODEL, None, 0.0, 0.0)
    label, confidence, margin = prediction.top
    reason = _gate(prediction, len(text), settings, thresholds, share_threshold)
    if reason is None and explore_draw is not None and explore_draw < settings.exploration_rate:
        reason = Reason.EXPLORATION
    if reason is None:
        return Decision(Route.ACCEPT, Reason.CONFIDENT, label, confidence, margin)
    return Decision(Route.ESCALATE, reason, label, confidence, margin)


def student_text(text: str, settings: RoutingSettings) -> str:
    """What the student scores: the text, cut to ``max_text_chars``."""
    return text[: settings.max_text_chars]


def exploration_draw(message_id: str, seed: int) -> float:
    """A uniform draw in [0, 1) fixed by (seed, message id): reproducible on redelivery
    and across workers, unlike a per-process RNG whose draws depend on arrival order."""
    digest = hashlib.blake2b(f"{seed}:{message_id}".encode(), digest_size=8).digest()
    # 53 bits fit a float64 exactly, so the result stays below 1.0 (64 could round up).
    return (int.from_bytes(digest, "big") >> 11) / 2.0**53


def _gate(
    prediction: Prediction,
    text_chars: int,
    settings: RoutingSettings,
    thresholds: RoutingThresholds | None,
    share_threshold: float | None,
) -> Reason | None:
    """The first rule that escalates a message, or None when the model may keep it."""
    label, confidence, margin = prediction.top
    if text_chars > settings.max_text_chars and settings.long_text == "escalate":
        return Reason.TEXT_TOO_LONG
    if share_threshold is not None:
        return Reason.TARGET_SHARE if confidence < share_threshold else None
    if thresholds is not None:
        floor, similarity = thresholds.min_similarity, prediction.similarity
        if floor is not None and similarity is not None and similarity < floor:
            return Reason.UNSEEN
        return Reason.BELOW_LABEL_THRESHOLD if confidence < thresholds.for_label(label) else None
    if confidence < settings.min_confidence:
        return Reason.LOW_CONFIDENCE
    if margin < settings.min_margin:
        return Reason.LOW_MARGIN
    return None

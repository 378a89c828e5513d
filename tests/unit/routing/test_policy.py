import numpy as np
import pytest

from sieve.core.settings import RoutingSettings
from sieve.routing.policy import (
    Prediction,
    Reason,
    Route,
    decide,
    exploration_draw,
    predictions_of,
    student_text,
)
from sieve.routing.share import RecentConfidences, gate_share
from sieve.routing.thresholds import RoutingThresholds

LABELS = ("a", "b", "c")
LOW_CONF = (Route.ESCALATE, Reason.LOW_CONFIDENCE)
# Dyadic probabilities are exact in float32, so "at the threshold" really is at it.
SETTINGS = RoutingSettings(
    min_confidence=0.5, min_margin=0.25, max_text_chars=20, long_text="escalate"
)


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


@pytest.mark.parametrize(
    ("probs", "expected"),
    [((1.0, 0.0, 0.0), (Route.ACCEPT, Reason.CONFIDENT)), ((0.375, 0.375, 0.25), LOW_CONF)],
)
def test_long_text_is_routed_like_any_other_by_default(probs, expected):
    """The default truncates: a long text cannot force an LLM call by its length alone."""
    settings = RoutingSettings(min_confidence=0.5, min_margin=0.25, max_text_chars=20)
    assert settings.long_text == "truncate"
    decision = decide(prediction(*probs), "x" * 5_000, settings)
    assert (decision.route, decision.reason) == expected


def test_the_student_scores_the_first_max_text_chars():
    settings = RoutingSettings(max_text_chars=4)
    assert student_text("abcdefgh", settings) == "abcd"
    assert student_text("ab", settings) == "ab"


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


# Calibrated routing: per-label thresholds, target share, exploration.
THRESHOLDS = RoutingThresholds(per_label={"a": 0.75, "b": 0.25}, global_threshold=0.625)
KEEP = (Route.ACCEPT, Reason.CONFIDENT)
BELOW_LABEL = (Route.ESCALATE, Reason.BELOW_LABEL_THRESHOLD)
LOW_CONFIDENCE = (Route.ESCALATE, Reason.LOW_CONFIDENCE)
LOW_MARGIN = (Route.ESCALATE, Reason.LOW_MARGIN)
TOO_LONG = (Route.ESCALATE, Reason.TEXT_TOO_LONG)
SHARE = (Route.ESCALATE, Reason.TARGET_SHARE)
EXPLORED = (Route.ESCALATE, Reason.EXPLORATION)
LONG = "x" * 21


def exploring(settings: RoutingSettings, rate: float) -> RoutingSettings:
    # model_copy(update=...) sets a field without validation: it works whether or not
    # RoutingSettings declares exploration_rate yet.
    return settings.model_copy(update={"exploration_rate": rate})


@pytest.mark.parametrize(
    ("probs", "text", "thresholds", "share", "expected"),
    [
        # a label's own threshold: at it is kept, below escalates (min_confidence passes)
        ((0.75, 0.125, 0.125), "short", THRESHOLDS, None, KEEP),
        ((0.6875, 0.15625, 0.15625), "short", THRESHOLDS, None, BELOW_LABEL),
        ((0.6875, 0.15625, 0.15625), "short", None, None, KEEP),
        # a label fitted without a threshold ("c") uses the global one
        ((0.125, 0.25, 0.625), "short", THRESHOLDS, None, KEEP),
        ((0.203125, 0.203125, 0.59375), "short", THRESHOLDS, None, BELOW_LABEL),
        # calibrated thresholds replace the fixed floors: a lenient label threshold keeps
        # what min_confidence or min_margin would escalate; without them the floors apply
        ((0.25, 0.46875, 0.28125), "short", THRESHOLDS, None, KEEP),
        ((0.25, 0.46875, 0.28125), "short", None, None, LOW_CONFIDENCE),
        ((0.0, 0.59375, 0.40625), "short", THRESHOLDS, None, KEEP),
        ((0.0, 0.59375, 0.40625), "short", None, None, LOW_MARGIN),
        # length before the label threshold
        ((0.375, 0.375, 0.25), LONG, THRESHOLDS, None, TOO_LONG),
        # share mode: at the share threshold is kept, below escalates
        ((0.75, 0.125, 0.125), "short", None, 0.75, KEEP),
        ((0.75, 0.125, 0.125), "short", None, 0.875, SHARE),
        # share mode replaces the precision rules: label threshold, confidence, margin
        ((0.6875, 0.15625, 0.15625), "short", THRESHOLDS, 0.625, KEEP),
        ((0.375, 0.375, 0.25), "short", None, 0.25, KEEP),
        ((0.0, 0.40625, 0.59375), "short", None, 0.5, KEEP),
        # ... but not the length limit
        ((1.0, 0.0, 0.0), LONG, None, 0.0, TOO_LONG),
    ],
)
def test_decide_with_calibrated_thresholds(probs, text, thresholds, share, expected):
    decision = decide(
        prediction(*probs), text, SETTINGS, thresholds=thresholds, share_threshold=share
    )
    assert (decision.route, decision.reason) == expected


NOVELTY = RoutingThresholds(per_label={"a": 0.5}, global_threshold=0.5, min_similarity=0.5)
UNSEEN = (Route.ESCALATE, Reason.UNSEEN)


@pytest.mark.parametrize(
    ("similarity", "thresholds", "share", "expected"),
    [
        # at the similarity floor is kept, below it escalates however confident
        (0.5, NOVELTY, None, KEEP),
        (0.4921875, NOVELTY, None, UNSEEN),
        # a model that cannot measure similarity, or thresholds without a floor: no rule
        (None, NOVELTY, None, KEEP),
        (0.0, THRESHOLDS, None, KEEP),
        # share mode is the operator's budget: the novelty rule does not add to it
        (0.0, NOVELTY, 0.5, KEEP),
    ],
)
def test_a_message_unlike_the_training_data_escalates_as_unseen(
    similarity, thresholds, share, expected
):
    confident = Prediction(LABELS, np.asarray([1.0, 0.0, 0.0], np.float32), similarity)
    decision = decide(confident, "short", SETTINGS, thresholds=thresholds, share_threshold=share)
    assert (decision.route, decision.reason) == expected


@pytest.mark.parametrize(
    ("probs", "share", "draw", "rate", "expected"),
    [
        # a kept message is explored when the draw falls below the rate
        ((0.75, 0.125, 0.125), None, 0.0, 0.25, EXPLORED),
        ((0.75, 0.125, 0.125), None, 0.2499, 0.25, EXPLORED),
        ((0.75, 0.125, 0.125), None, 0.25, 0.25, KEEP),
        ((0.75, 0.125, 0.125), None, None, 0.25, KEEP),
        ((0.75, 0.125, 0.125), None, 0.0, 0.0, KEEP),
        # in share mode too
        ((0.75, 0.125, 0.125), 0.5, 0.1, 0.25, EXPLORED),
        # an escalated message keeps the reason that escalated it
        ((0.375, 0.375, 0.25), None, 0.0, 0.25, LOW_CONFIDENCE),
        ((0.75, 0.125, 0.125), 0.875, 0.0, 0.25, SHARE),
    ],
)
def test_decide_exploration(probs, share, draw, rate, expected):
    decision = decide(
        prediction(*probs),
        "short",
        exploring(SETTINGS, rate),
        share_threshold=share,
        explore_draw=draw,
    )
    assert (decision.route, decision.reason) == expected
    assert decision.label == "a"  # an explored message still carries the model's label


def test_no_model_escalates_whatever_the_thresholds():
    decision = decide(
        None,
        "t",
        exploring(SETTINGS, 1.0),
        thresholds=THRESHOLDS,
        share_threshold=0.0,
        explore_draw=0.0,
    )
    assert (decision.route, decision.reason) == (Route.ESCALATE, Reason.NO_MODEL)


def test_reasons_fit_the_database_column():
    assert all(len(reason.value) <= 32 for reason in Reason)
    assert len({reason.value for reason in Reason}) == len(Reason)


def test_exploration_draws_are_stable_per_message_and_uniform():
    assert exploration_draw("m-1", seed=0) == exploration_draw("m-1", seed=0)
    assert exploration_draw("m-1", seed=0) != exploration_draw("m-1", seed=1)
    draws = np.array([exploration_draw(f"m-{i}", seed=3) for i in range(10_000)])
    assert ((draws >= 0.0) & (draws < 1.0)).all()
    assert abs(np.mean(draws < 0.1) - 0.1) <= 0.01
    assert abs(np.mean(draws) - 0.5) <= 0.01


def test_target_share_with_exploration_holds_over_the_next_messages():
    """A 15% target: the share threshold from 5,000 recent confidences routes the next
    1,000 messages, exploration included, to the LLM at 15% ± 3 points."""
    rng = np.random.default_rng(21)
    settings = exploring(SETTINGS, 0.02)
    recent = RecentConfidences(capacity=5_000)

    def confident_prediction() -> Prediction:
        top = float(rng.beta(5.0, 1.2))
        return Prediction(LABELS, np.asarray([top, (1 - top) / 2, (1 - top) / 2]))

    recent.add(confident_prediction().top[1] for _ in range(5_000))
    share = recent.threshold_for_share(gate_share(0.15, 0.02))
    assert share is not None
    decisions = [
        decide(
            confident_prediction(),
            "short",
            settings,
            thresholds=THRESHOLDS,
            share_threshold=share,
            explore_draw=exploration_draw(f"m-{index}", seed=21),
        )
        for index in range(1_000)
    ]
    realised = sum(d.route is Route.ESCALATE for d in decisions) / len(decisions)
    explored = sum(d.reason is Reason.EXPLORATION for d in decisions)
    print(f"target LLM share 15%: realised {realised:.1%} ({explored} explored)")
    assert abs(realised - 0.15) <= 0.03
    assert explored > 0


def test_batch_predictions_agree_with_the_per_message_top_on_ties_and_one_label():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(5), size=200).astype(np.float32)
    probs[0] = [0.4, 0.4, 0.1, 0.05, 0.05]  # a tie for first: the label listed first wins
    probs[1] = [0.2, 0.2, 0.2, 0.2, 0.2]
    labels = ["a", "b", "c", "d", "e"]
    similarity = rng.uniform(-1, 1, size=200).astype(np.float32)
    batch = predictions_of(labels, probs, similarity)
    assert len(batch) == 200
    for row, prediction in zip(probs, batch, strict=True):
        expected = Prediction(labels, row).top
        assert prediction.top[0] == expected[0]
        assert prediction.top[1:] == pytest.approx(expected[1:], abs=1e-7)
    assert batch[0].top[0] == "a" and batch[0].top[2] == 0.0
    assert [p.similarity for p in batch] == pytest.approx(similarity.tolist())
    single = predictions_of(["only"], np.array([[1.0]], dtype=np.float32))
    assert single[0].top == ("only", 1.0, 1.0) and single[0].similarity is None
    assert predictions_of(labels, np.zeros((0, 5), dtype=np.float32)) == []

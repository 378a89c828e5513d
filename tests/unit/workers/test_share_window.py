"""After a model swap with a target share, the window holds the new model's confidences on
the latest traffic, not its held-out slice's (harder messages, lower confidences)."""

import numpy as np

from sieve.core.settings import KafkaSettings, RoutingSettings, StreamSettings
from sieve.routing.thresholds import RoutingThresholds
from sieve.workers.stream.loop import StreamWorker
from tests.fakes import FakeClassifier

TEXTS = [f"t{i}" for i in range(400)]


class SwappedModel:
    """What StreamWorker reads of ActiveModel after a swap."""

    def __init__(self, classifier: FakeClassifier, thresholds: RoutingThresholds) -> None:
        self.classifier = classifier
        self.thresholds = thresholds


def worker(share: float | None, model: SwappedModel) -> StreamWorker:
    routing = RoutingSettings(target_llm_share=share, min_share_samples=200)
    return StreamWorker(
        consumer=None,  # type: ignore[arg-type]  # not polled here
        checkpoint=None,  # type: ignore[arg-type]
        model=model,  # type: ignore[arg-type]
        kafka=KafkaSettings(),
        routing=routing,
        limits=StreamSettings(),
    )


def model() -> SwappedModel:
    # Traffic confidences spread evenly over [0.5, 1); the slice's quantiles sit far lower.
    answers = {text: [0.5 + i / 800, 0.5 - i / 800] for i, text in enumerate(TEXTS)}
    slice_quantiles = tuple(np.linspace(0.1, 0.6, 201))
    thresholds = RoutingThresholds({}, 0.5, confidence_quantiles=slice_quantiles)
    return SwappedModel(FakeClassifier(["a", "b"], answers), thresholds)


def test_the_new_model_rescores_recent_traffic_for_the_share_threshold():
    swapped = model()
    stream = worker(0.15, swapped)
    stream._recent_texts.extend((text, False) for text in TEXTS)
    stream._restart_window()
    assert swapped.classifier.calls == [TEXTS]
    threshold = stream._recent.threshold_for_share(0.15, min_samples=200)
    # 15% of the recent texts fall below it: the 60th lowest of 400 evenly spread values
    assert threshold == np.float32(0.5 + 60 / 800)


def test_escalated_recent_texts_are_stood_in_for_by_the_held_out_slice():
    """They may be in the new model's training data: not rescored."""
    swapped = model()
    stream = worker(0.15, swapped)
    stream._recent_texts.extend((text, i >= 300) for i, text in enumerate(TEXTS))
    stream._restart_window()
    assert swapped.classifier.calls == [TEXTS[:300]]
    values = stream._recent.values()
    assert len(values) == 400
    # 100 stand-ins spread over the slice's [0.1, 0.6]: 80 below 0.5, where no fresh score is
    assert (values < 0.5).sum() == 80


def test_without_a_target_share_or_recent_traffic_the_slice_quantiles_are_used():
    for share, texts in ((None, TEXTS), (0.15, [])):
        swapped = model()
        stream = worker(share, swapped)
        stream._recent_texts.extend((text, False) for text in texts)
        stream._restart_window()
        assert swapped.classifier.calls == []
        threshold = stream._recent.threshold_for_share(0.15, min_samples=200)
        assert threshold is not None and threshold < 0.5

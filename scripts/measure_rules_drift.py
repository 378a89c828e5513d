"""Figures behind README "Rules" and "Drift": drift scores on Banking77 with an n-gram
student (two random halves of the test set; the first half against the 320 messages of 8
labels), and what the example rules cost per message beside the student's inference.

    PYTHONPATH=. .venv/bin/python scripts/measure_rules_drift.py
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from sieve.core.dataset import read_label_set, read_labeled_jsonl
from sieve.core.settings import DriftSettings, RoutingSettings
from sieve.models.families.ngram.training import TrainConfig, train_from_file
from sieve.models.registry import ModelRegistry
from sieve.routing.drift import Observation, SignalDrift, compare
from sieve.routing.policy import Prediction, Route, decide
from sieve.routing.rules_file import load_rules

DATA = Path("data/banking77")


def show(name: str, verdict: list[SignalDrift]) -> None:
    figures = "; ".join(
        f"{s.signal.value} {s.score:.3f} (bound {s.bound:g}, noise ~{s.noise:.3f})"
        + (" ALERT" if s.alert else "")
        for s in verdict
        if s.score is not None and s.noise is not None
    )
    print(f"{name}: {figures}")


def main() -> None:
    registry = ModelRegistry(Path(tempfile.mkdtemp(prefix="sieve-measure-")))
    info, _ = train_from_file(
        DATA / "train.jsonl", registry, eval_path=None, config=TrainConfig(seed=0)
    )
    classifier = registry.load(info.version)
    rows = read_labeled_jsonl(DATA / "test.jsonl")
    random.Random(1).shuffle(rows)
    texts = [row.text for row in rows]
    probabilities = classifier.predict_proba(texts)
    routing = RoutingSettings()
    decisions = []
    for text, probs in zip(texts, probabilities, strict=True):
        decision = decide(Prediction(classifier.labels, probs), text, routing)
        decisions.append(
            Observation(decision.label, decision.confidence, decision.route is Route.ESCALATE)
        )
    half = len(decisions) // 2
    settings = DriftSettings(window=half, min_samples=300)
    show(
        f"two halves of the test set ({half} each)",
        compare(decisions[:half], decisions[half:], settings),
    )
    labels = sorted({row.label for row in rows})[:8]
    shifted = [d for d, row in zip(decisions, rows, strict=True) if row.label in labels]
    show(
        f"first half against {len(shifted)} messages of 8 labels",
        compare(decisions[:half], shifted, settings),
    )

    rules = load_rules(Path("examples/rules.yaml"), read_label_set(DATA / "labels.txt"))
    started = time.perf_counter()
    for _ in range(10):
        matched = sum(rules.first_match(text) is not None for text in texts)
    rules_us = (time.perf_counter() - started) / (10 * len(texts)) * 1e6
    started = time.perf_counter()
    classifier.predict_proba(texts)
    model_us = (time.perf_counter() - started) / len(texts) * 1e6
    print(
        f"examples/rules.yaml: {matched} of {len(texts)} test texts matched, {rules_us:.1f} us "
        f"per message; n-gram inference {model_us:.1f} us per message (one batch)"
    )


if __name__ == "__main__":
    main()

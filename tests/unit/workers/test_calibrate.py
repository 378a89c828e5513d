from collections.abc import Sequence

import numpy as np

from sieve.store.labels import TrainingLabel
from sieve.workers.distill.calibrate import nearest_training_examples

# Texts as points on a circle: the angle is the text, so similarities are known exactly.
ANGLES = {"a": 0.0, "a'": 0.1, "b": np.pi / 2, "b'": np.pi / 2 + 0.1, "far": np.pi}


class CircleStudent:
    """A TrainedStudent stand-in whose embedding of a text is a unit vector at its angle."""

    labels = ("x", "y")
    family = "circle"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        angles = np.array([ANGLES[text] for text in texts])
        return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


class NoEmbedding(CircleStudent):
    def embed(self, texts: Sequence[str]) -> None:
        return None


def row(text: str, label: str) -> TrainingLabel:
    return TrainingLabel(text, text, label, "llm", "p@1")


def test_each_held_out_message_finds_its_nearest_training_example():
    train = [row("a", "x"), row("b", "y")]
    held_out = [row("a'", "x"), row("b'", "x"), row("far", "y")]
    found = nearest_training_examples(CircleStudent(), train, held_out)
    assert found is not None
    np.testing.assert_allclose(found.similarity, [np.cos(0.1), np.cos(0.1), 0.0], atol=1e-6)
    # a' sits by a (both x): alike; b' sits by b (x against y): not; far is nearest b (y)
    assert found.same_label.tolist() == [True, False, True]


def test_a_family_without_embeddings_has_no_neighbours():
    assert nearest_training_examples(NoEmbedding(), [row("a", "x")], [row("b", "x")]) is None
    assert nearest_training_examples(CircleStudent(), [], [row("b", "x")]) is None

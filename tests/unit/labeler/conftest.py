"""Teachers and in-process simulators on a free 127.0.0.1 port (no other network)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sieve.core.dataset import LabeledText, read_label_set, read_labeled_jsonl
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.noise import Teacher
from sieve.labeler.sim.simulator import SimulatorServer
from tests.conftest import BANKING77

SMALL_LABELS = ["card_arrival", "card_linking", "pending_transfer", "Refund_not_showing_up"]
SMALL_TEXTS = {
    "card_arrival": [
        "Where is my new card?",
        "My card has not arrived yet.",
        "Card still not here",
    ],
    "card_linking": ["How do I link my card?", "Link a card to the app", "Connect my card"],
    "pending_transfer": ["My transfer is pending", "Why is the transfer still pending?"],
    "Refund_not_showing_up": ["The refund is not showing up", "Where is my refund?"],
}
SMALL_RECORDS = [
    LabeledText(id=f"small-{label}-{i}", text=text, label=label)
    for label, texts in SMALL_TEXTS.items()
    for i, text in enumerate(texts)
]

MakeSimulator = Callable[..., SimulatorServer]


def small_teacher(accuracy: float = 1.0, seed: int = 0) -> Teacher:
    return Teacher(SMALL_RECORDS, accuracy=accuracy, noise="confusable", seed=seed, neighbours_k=2)


@pytest.fixture
def make_simulator() -> Iterator[MakeSimulator]:
    """Start simulators (a small, always-right teacher by default); all stop after the test."""
    started: list[SimulatorServer] = []

    def make(teacher: Teacher | None = None, **config: Any) -> SimulatorServer:
        server = SimulatorServer(teacher or small_teacher(), SimulatorConfig(**config))
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def banking77_test() -> list[LabeledText]:
    return read_labeled_jsonl(BANKING77 / "test.jsonl")


@pytest.fixture(scope="session")
def banking77_labels() -> list[str]:
    return read_label_set(BANKING77 / "labels.txt")


@pytest.fixture(scope="session")
def banking77_path() -> Path:
    return BANKING77

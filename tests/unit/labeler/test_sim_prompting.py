"""The prompt-sensitive simulator: accuracy rises when the prompt shows an example with the
true label, and follows a per-version map, both read from the request as a model sees it."""

from __future__ import annotations

import pytest

from sieve.core.errors import ConfigError
from sieve.labeler.client import LLMClient
from sieve.labeler.prompts import FewShotExample, load_prompt
from sieve.labeler.sim.noise import Teacher
from sieve.labeler.sim.prompting import (
    PromptSensitivity,
    parse_prompt_accuracy,
    shown_example_labels,
)
from sieve.labeler.sim.simulator import SimulatorServer
from tests.unit.labeler.conftest import MakeSimulator

ZERO_SHOT = load_prompt("classify-zero-shot")
FEW_SHOT = load_prompt("classify-few-shot")
RETRIEVAL = load_prompt("classify-retrieval")


@pytest.fixture(scope="module")
def teacher(banking77_test) -> Teacher:
    return Teacher(banking77_test[:400], accuracy=0.5, noise="uniform", seed=3)


def _accuracy(sim: SimulatorServer, records, prompt, labels, examples_of=None) -> float:
    client = LLMClient(base_url=sim.base_url, api_key="", model="teacher-sim", timeout_s=5)
    right = 0
    for record in records:
        retrieved = examples_of(record) if examples_of else ()
        right += (
            client.label(record.text, prompt, labels, retrieved=retrieved).label == record.label
        )
    client.close()
    return right / len(records)


def test_an_example_with_the_true_label_raises_the_accuracy(
    make_simulator: MakeSimulator, teacher, banking77_test, banking77_labels
) -> None:
    sim = make_simulator(teacher, prompts=PromptSensitivity(example_accuracy=0.95))
    records = banking77_test[:80]
    relevant = _accuracy(
        sim,
        records,
        RETRIEVAL,
        banking77_labels,
        lambda r: [FewShotExample("another message", r.label)],
    )
    wrong_label = next(label for label in banking77_labels if label != records[0].label)
    unrelated = _accuracy(
        sim,
        [r for r in records if r.label != wrong_label],
        RETRIEVAL,
        banking77_labels,
        lambda r: [FewShotExample("another message", wrong_label)],
    )
    none = _accuracy(sim, records, RETRIEVAL, banking77_labels)
    assert relevant >= 0.9
    assert 0.3 <= none <= 0.7 and 0.3 <= unrelated <= 0.7


def test_accuracy_per_prompt_version(
    make_simulator: MakeSimulator, teacher, banking77_test, banking77_labels
) -> None:
    sensitivity = PromptSensitivity(prompt_accuracy={"classify-zero-shot@1": 0.95})
    sim = make_simulator(teacher, prompts=sensitivity)
    records = banking77_test[:80]
    assert _accuracy(sim, records, ZERO_SHOT, banking77_labels) >= 0.9
    # Another template is not named: the teacher's own accuracy (0.5).
    assert (
        0.35
        <= _accuracy(sim, records, load_prompt("classify-chain-of-thought"), banking77_labels)
        <= 0.7
    )


def test_off_by_default_examples_change_nothing(
    make_simulator: MakeSimulator, teacher, banking77_test, banking77_labels
) -> None:
    sim = make_simulator(teacher)
    records = banking77_test[:60]
    with_examples = _accuracy(
        sim, records, RETRIEVAL, banking77_labels, lambda r: [FewShotExample("x", r.label)]
    )
    assert with_examples == _accuracy(sim, records, ZERO_SHOT, banking77_labels)


def test_examples_are_read_from_the_turns_before_the_message() -> None:
    labels = ["card_arrival", "pending_transfer", "apple_pay_or_google_pay"]
    messages = FEW_SHOT.render("Where is my card?", labels)
    assert shown_example_labels(messages) == {
        "card_arrival",
        "pending_transfer",
        "apple_pay_or_google_pay",
    }
    assert shown_example_labels(ZERO_SHOT.render("Where is my card?", labels)) == set()
    # A corrective turn after the message is not an example.
    corrected = [
        *ZERO_SHOT.render("Where is my card?", labels),
        {"role": "assistant", "content": '{"label": "card_arrival"}'},
        {"role": "user", "content": "Your answer is not valid."},
    ]
    assert shown_example_labels(corrected) == set()


def test_prompt_accuracy_arguments_are_checked() -> None:
    assert parse_prompt_accuracy(["classify-few-shot@1=0.8"]) == {"classify-few-shot@1": 0.8}
    for bad in ("classify-few-shot=0.8", "classify-few-shot@1", "classify-few-shot@1=high"):
        with pytest.raises(ConfigError):
            parse_prompt_accuracy([bad])
    with pytest.raises(ConfigError):
        PromptSensitivity(example_accuracy=1.5)
    with pytest.raises(ConfigError):
        PromptSensitivity(prompt_accuracy={"classify-few-shot@7": 0.8}).systems()

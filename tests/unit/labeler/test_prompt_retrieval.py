"""Retrieval-grounded prompts: retrieved examples become worked-example turns, labels carry
their descriptions, and the example index never shows a message its own label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sieve.core.errors import ConfigError
from sieve.labeler.prompts import FewShotExample, _from_document, extract_feedback, load_prompt
from sieve.labeler.retrieval import ExampleIndex, LabeledExample, build_index

LABELS = ["card_arrival", "card_linking", "pending_transfer"]
RETRIEVAL = load_prompt("classify-retrieval")


def _examples(n: int) -> list[FewShotExample]:
    return [FewShotExample(f"example text {i}", LABELS[i % 3]) for i in range(n)]


def test_retrieved_examples_are_turns_before_the_message_at_most_k() -> None:
    messages = RETRIEVAL.render("Where is my card?", LABELS, _examples(8))
    assert RETRIEVAL.retrieval_k == 5
    users = [m for m in messages if m["role"] == "user"]
    answers = [m for m in messages if m["role"] == "assistant"]
    assert len(users) == 6 and len(answers) == 5  # five examples, then the message
    shown = [extract_feedback(m["content"]) for m in users]
    assert shown == [*(f"example text {i}" for i in range(5)), "Where is my card?"]
    assert '"label": "card_arrival"' in answers[0]["content"]
    for before, after in zip(messages[1:-1:2], messages[2:-1:2], strict=True):
        assert (before["role"], after["role"]) == ("user", "assistant")


def test_a_prompt_without_retrieval_ignores_retrieved_examples() -> None:
    zero_shot = load_prompt("classify-zero-shot")
    assert zero_shot.render("x", LABELS, _examples(3)) == zero_shot.render("x", LABELS)


def test_retrieved_examples_outside_the_label_set_are_left_out() -> None:
    outside = [FewShotExample("lost it", "lost_or_stolen_card"), *_examples(1)]
    messages = RETRIEVAL.render("Where is my card?", LABELS, outside)
    assert "lost it" not in "".join(m["content"] for m in messages)
    assert len(messages) == 4  # system, one example turn pair, the message


def test_labels_are_listed_with_their_descriptions() -> None:
    content = RETRIEVAL.render("x", [*LABELS, "not_described"], ())[-1]["content"]
    assert "- card_arrival: an ordered card has not arrived yet\n" in content
    assert "- not_described\n" in content


def _document(**extra: object) -> dict[str, object]:
    return {
        "name": "p",
        "version": 1,
        "description": "d",
        "system": "s",
        "user_template": "{labels}\n<feedback>\n{text}\n</feedback>",
        "output_instructions": "o",
        **extra,
    }


@pytest.mark.parametrize(
    "extra",
    [{"retrieval_k": -1}, {"retrieval_k": "5"}, {"label_descriptions": "nowhere.yaml"}],
)
def test_bad_retrieval_fields_are_config_errors(extra: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        _from_document(_document(**extra), "p")


class _CountingEmbedder:
    """Bag of words hashed into 64 dimensions; counts the texts it embeds."""

    id = "words-64"

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, sum(map(ord, word)) % 64] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


POOL = [
    LabeledExample("m1", "my card has not arrived", "card_arrival", human=False),
    LabeledExample("m2", "card not arrived yet", "card_arrival", human=True),
    LabeledExample("m3", "link my card to the app", "card_linking", human=False),
    LabeledExample("m4", "transfer pending for days", "pending_transfer", human=False),
    LabeledExample("gold-1", "where is my card", "card_arrival", human=True),
]


def test_nearest_never_shows_the_message_its_own_label() -> None:
    embedder = _CountingEmbedder()
    index = build_index(POOL, embedder)
    query = embedder.embed(["where is my card"])[0]
    shown = index.nearest(query, "Where is my card ", 4)  # the same text, spelled otherwise
    assert "where is my card" not in [example.text for example in shown]
    by_id = index.nearest(embedder.embed(["card not arrived"])[0], "x", 4, message_id="m2")
    assert "card not arrived yet" not in [example.text for example in by_id]


def test_nearest_puts_human_labels_first_and_the_nearest_last() -> None:
    embedder = _CountingEmbedder()
    index = build_index(POOL, embedder)
    text = "my card has not arrived yet"
    shown = index.nearest(embedder.embed([text])[0], text, 2, message_id="other")
    # m1 is nearer, but among the candidates the human labels are taken first.
    assert [example.text for example in shown] == ["where is my card", "card not arrived yet"]
    assert index.nearest(embedder.embed([text])[0], text, 0) == []


def test_a_rebuild_embeds_only_new_texts() -> None:
    embedder = _CountingEmbedder()
    first = build_index(POOL[:3], embedder)
    embedder.embedded.clear()
    second = build_index(POOL, embedder, known=first)
    assert sorted(embedder.embedded) == sorted(example.text for example in POOL[3:])
    assert np.allclose(second.vectors[:3], first.vectors)
    other_space = ExampleIndex(first.examples, first.vectors, "another-encoder")
    embedder.embedded.clear()
    build_index(POOL[:3], embedder, known=other_space)
    assert len(embedder.embedded) == 3  # another space: nothing reused

"""The generation prompt, what the simulator reads back from it, and parsing its answers."""

from __future__ import annotations

import pytest

from sieve.core.errors import ConfigError
from sieve.labeler.generation import (
    UnusableGeneration,
    generation_request,
    label_description,
    load_generation_prompt,
    parse_examples,
)
from sieve.labeler.prompts import available_prompts, extract_feedback


def test_the_generation_prompt_is_versioned_and_not_a_classification_prompt() -> None:
    prompt = load_generation_prompt()
    assert prompt.version_id == "generate-examples@1"
    assert "generate-examples" not in available_prompts()
    with pytest.raises(ConfigError, match="unknown generation prompt"):
        load_generation_prompt("classify-zero-shot")


def test_render_asks_for_the_label_count_and_batch_and_reads_back() -> None:
    messages = load_generation_prompt().render("card_arrival", 12, batch=2)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "card arrival" in user  # the label's name read as words: its description
    assert '{"messages"' in user
    assert extract_feedback(user) is None  # never mistaken for a text to label
    request = generation_request(user)
    assert request is not None
    assert (request.label, request.count, request.batch) == ("card_arrival", 12, 2)


def test_a_given_description_replaces_the_label_name() -> None:
    messages = load_generation_prompt().render("x1", 3, description="lost or stolen card")
    assert "lost or stolen card" in messages[1]["content"]


def test_a_classification_message_is_no_generation_request() -> None:
    assert generation_request("Message:\n<feedback>\nhello\n</feedback>") is None
    assert label_description("card-payment_fee") == "card payment fee"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"messages": ["a b c", "d e f"]}', ["a b c", "d e f"]),
        ('```json\n{"messages": ["one"]}\n```', ["one"]),
        ('Sure! {"messages": ["one", 2, "two"]} Enjoy.', ["one", "two"]),
        ('["bare", "list"]', ["bare", "list"]),
        ('{"messages": []}', []),
    ],
)
def test_parse_examples_reads_the_messages_list(raw: str, expected: list[str]) -> None:
    assert parse_examples(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "no json here", '{"label": "card_arrival"}', '{"messages": "one"}', '{"messa']
)
def test_an_answer_without_a_messages_list_is_unusable(raw: str) -> None:
    with pytest.raises(UnusableGeneration):
        parse_examples(raw)

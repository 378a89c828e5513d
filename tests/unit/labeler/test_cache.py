from __future__ import annotations

import pytest

from sieve.labeler.answer import LLMAnswer
from sieve.labeler.cache import InMemoryAnswerCache, cache_key, normalise_text

ANSWER = LLMAnswer(
    label="card_arrival",
    rationale="The card has not come.",
    raw_answer='{"label": "card_arrival"}',
    tokens_in=120,
    tokens_out=14,
    latency_ms=35.5,
    model="teacher-sim",
    prompt_version="classify-zero-shot@1",
    response_model="teacher-sim",
    calls=2,
)
KEY_PARTS = ("Where is my card?", "classify-zero-shot@1", "teacher-sim", '{"t":0}', ["a", "b"])


def test_normalise_text_folds_unicode_case_and_whitespace() -> None:
    assert normalise_text("  Where\tis   my\u00a0CARD?\n") == "where is my card?"
    assert normalise_text("ﬁnd my ｃａｒｄ") == "find my card"


def test_the_key_ignores_spelling_noise_but_not_what_changes_the_answer() -> None:
    key = cache_key(*KEY_PARTS)
    assert len(key) == 64
    assert cache_key("WHERE is my  card? ", *KEY_PARTS[1:]) == key
    changed = [
        ("Where is my card!", *KEY_PARTS[1:]),
        (KEY_PARTS[0], "classify-zero-shot@2", *KEY_PARTS[2:]),
        (*KEY_PARTS[:2], "gpt-4o-mini", *KEY_PARTS[3:]),
        (*KEY_PARTS[:3], '{"t":0.7}', KEY_PARTS[4]),
        (*KEY_PARTS[:4], ["a", "b", "c"]),
    ]
    assert len({cache_key(*parts) for parts in changed} | {key}) == len(changed) + 1


def test_answers_survive_a_round_trip_through_json() -> None:
    assert LLMAnswer.from_json(ANSWER.to_json()) == ANSWER
    for bad in ("[]", '{"label": "x"}', "not json"):
        with pytest.raises(ValueError):
            LLMAnswer.from_json(bad)


def test_in_memory_cache_gets_what_was_put() -> None:
    cache = InMemoryAnswerCache()
    assert cache.get("k") is None
    cache.put("k", ANSWER)
    assert cache.get("k") == ANSWER
    assert cache.get("other") is None
    assert len(cache) == 1

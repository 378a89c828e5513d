"""Pre-generation ranks texts by normalised frequency (workers/llm/pregenerate.py)."""

from __future__ import annotations

from sieve.workers.llm.pregenerate import frequent_texts


def test_spellings_merge_and_the_most_frequent_comes_first() -> None:
    counts = [
        ("Where is my card?", 2),
        ("where is my  CARD?", 3),
        ("Top up failed", 4),
        ("once only", 1),
        ("   ", 9),
        ("b tie", 2),
        ("a tie", 2),
    ]
    assert frequent_texts(counts, min_count=2) == [
        ("where is my  CARD?", 5),  # the most frequent spelling stands for the text
        ("Top up failed", 4),
        ("a tie", 2),
        ("b tie", 2),
    ]
    assert frequent_texts(counts, min_count=5) == [("where is my  CARD?", 5)]

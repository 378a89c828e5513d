"""What the bootstrap keeps of generated texts (sieve.labeler.synthetic)."""

from __future__ import annotations

from sieve.labeler.synthetic import DropReason, ExampleFilter


def test_length_bounds_and_empty_texts_are_dropped_with_their_reason() -> None:
    checks = ExampleFilter(min_chars=5, max_chars=20)
    kept = checks.add("a", ["", "   ", "tiny", "just right here", "x" * 21, "exactly5"])
    assert [example.text for example in kept] == ["just right here", "exactly5"]
    assert checks.dropped[DropReason.EMPTY] == 2
    assert checks.dropped[DropReason.TOO_SHORT] == 1
    assert checks.dropped[DropReason.TOO_LONG] == 1
    assert checks.generated == 6


def test_copies_after_normalisation_are_kept_once() -> None:
    checks = ExampleFilter(min_chars=1)
    checks.add("a", ["Where is my card?", "WHERE  is my card?"])
    checks.add("a", ["where is my card?", "Another one"])
    assert [e.text for e in checks.examples()] == ["Where is my card?", "Another one"]
    assert checks.dropped[DropReason.DUPLICATE] == 2


def test_a_text_written_for_two_labels_is_dropped_from_both() -> None:
    checks = ExampleFilter(min_chars=1)
    checks.add("a", ["shared text", "only a"])
    checks.add("b", ["Shared  TEXT", "only b"])
    checks.add("c", ["shared text"])
    assert [(e.label, e.text) for e in checks.examples()] == [("a", "only a"), ("b", "only b")]
    assert checks.dropped[DropReason.OTHER_LABEL] == 3
    assert checks.kept_count("a") == 1


def test_reject_drops_an_example_kept_earlier() -> None:
    checks = ExampleFilter(min_chars=1)
    first, second = checks.add("a", ["one text", "two text"])
    checks.reject(first, DropReason.OFF_LABEL)
    assert checks.examples() == [second]
    assert checks.dropped[DropReason.OFF_LABEL] == 1

"""Validation of generated examples: what the synthetic bootstrap keeps of the LLM's texts.

A generated text is kept for the label it was asked for when it is

1. a non-empty string within ``[min_chars, max_chars]`` characters once trimmed;
2. not a copy (after ``normalise_text``) of a text already kept for the same label
   (``duplicate``);
3. not a copy of a text generated for another label (``other_label``): such a text is
   evidence of neither label, so *every* copy of it is dropped, the earlier ones too.

The label is the one asked for; checking it with the classification prompt is optional
(``verify``, done by the bootstrap job: one labeling call per example). Order is kept:
the same answers in the same order keep the same texts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

from sieve.labeler.cache import normalise_text


class DropReason(StrEnum):
    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    DUPLICATE = "duplicate"
    OTHER_LABEL = "other_label"
    OFF_LABEL = "off_label"  # verification: the classifier prompt named another label


@dataclass(frozen=True)
class KeptExample:
    label: str
    text: str
    normalised: str


@dataclass
class ExampleFilter:
    min_chars: int = 8
    max_chars: int = 300
    _kept: dict[str, list[KeptExample]] = field(default_factory=lambda: defaultdict(list))
    _owner: dict[str, str] = field(default_factory=dict)  # normalised text → first label
    _conflicted: set[str] = field(default_factory=set)
    dropped: Counter[str] = field(default_factory=Counter)
    generated: int = 0

    def add(self, label: str, texts: list[str]) -> list[KeptExample]:
        """Validate ``texts`` generated for ``label``; returns those kept for now (a later
        copy for another label can still drop one: read ``examples()`` at the end)."""
        kept: list[KeptExample] = []
        for raw in texts:
            self.generated += 1
            text = " ".join(raw.split())
            reason = self._invalid(text)
            if reason is not None:
                self.dropped[reason] += 1
                continue
            normalised = normalise_text(text)
            owner = self._owner.get(normalised)
            if normalised in self._conflicted or (owner is not None and owner != label):
                self._conflict(normalised)
                continue
            if owner == label:
                self.dropped[DropReason.DUPLICATE] += 1
                continue
            self._owner[normalised] = label
            example = KeptExample(label, text, normalised)
            self._kept[label].append(example)
            kept.append(example)
        return kept

    def reject(self, example: KeptExample, reason: DropReason) -> None:
        """Drop an example kept earlier (verification disagreed)."""
        examples = self._kept[example.label]
        if example in examples:
            examples.remove(example)
            self.dropped[reason] += 1

    def kept_count(self, label: str) -> int:
        return len(self._kept[label])

    def examples(self) -> list[KeptExample]:
        """Every kept example, label by label in the order labels were added."""
        return [example for examples in self._kept.values() for example in examples]

    def _invalid(self, text: str) -> DropReason | None:
        if not text:
            return DropReason.EMPTY
        if len(text) < self.min_chars:
            return DropReason.TOO_SHORT
        if len(text) > self.max_chars:
            return DropReason.TOO_LONG
        return None

    def _conflict(self, normalised: str) -> None:
        """Drop this copy and, the first time, the copy kept for the first label."""
        self.dropped[DropReason.OTHER_LABEL] += 1
        if normalised in self._conflicted:
            return
        self._conflicted.add(normalised)
        owner = self._owner[normalised]
        before = len(self._kept[owner])
        self._kept[owner] = [e for e in self._kept[owner] if e.normalised != normalised]
        self.dropped[DropReason.OTHER_LABEL] += before - len(self._kept[owner])

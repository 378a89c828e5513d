"""Routing rules: configuration that decides a message before the model does.

An operator knows things the model cannot learn in time: every "chargeback" goes to a
person's queue, a two-word message is not worth a label. A rule is a matcher and an action:

- matchers: ``regex`` (Python ``re.search``, case-insensitive), ``keywords`` (any of the
  words or phrases, case-insensitive, whole words: ``card`` does not match ``cards``), or a
  length bound — ``min_chars`` fires when the text is shorter than it, ``max_chars`` when
  it is longer (both set: outside the range);
- actions: ``escalate`` (send it to the LLM through the normal sink) or ``label`` (a final
  label from the deployment's label set, source ``rule``).

Rules are checked in file order and the first that matches decides; a message no rule
matches goes to the model and the routing policy (``policy.py``). The stored reason names
the rule: ``rule:<name>`` (``stored_reason``), so names are short enough for the 32
characters of the reason columns. Parsing and validation live in ``rules_file.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

RULE_REASON_PREFIX = "rule:"
# The reason columns hold 32 characters: "rule:" plus the name.
MAX_RULE_NAME_CHARS = 32 - len(RULE_REASON_PREFIX)


class RuleAction(StrEnum):
    ESCALATE = "escalate"
    LABEL = "label"


@dataclass(frozen=True)
class Rule:
    """One validated rule. Exactly one of ``pattern`` (regex or keywords, compiled) and a
    length bound (``min_chars``/``max_chars``) is set; ``label`` iff action is LABEL."""

    name: str
    action: RuleAction
    label: str | None = None
    pattern: re.Pattern[str] | None = None
    min_chars: int | None = None
    max_chars: int | None = None
    keywords: tuple[str, ...] = ()  # as written, for display: ``pattern`` is what matches

    def matches(self, text: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        if self.min_chars is not None and len(text) < self.min_chars:
            return True
        return self.max_chars is not None and len(text) > self.max_chars

    @property
    def stored_reason(self) -> str:
        return f"{RULE_REASON_PREFIX}{self.name}"


@dataclass(frozen=True)
class RuleSet:
    """The deployment's rules in file order; empty: every message goes to the model."""

    rules: tuple[Rule, ...] = ()

    def first_match(self, text: str) -> Rule | None:
        for rule in self.rules:
            if rule.matches(text):
                return rule
        return None

    def __len__(self) -> int:
        return len(self.rules)


NO_RULES = RuleSet()


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str]:
    """One case-insensitive pattern for any of ``keywords`` as whole words: not preceded or
    followed by a word character; the words of a phrase may be split by any whitespace."""
    words = [r"\s+".join(re.escape(word) for word in keyword.split()) for keyword in keywords]
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE)


def rule_name_of(reason: str) -> str | None:
    """The rule a stored reason names, or None for the policy's own reasons."""
    if reason.startswith(RULE_REASON_PREFIX):
        return reason[len(RULE_REASON_PREFIX) :]
    return None

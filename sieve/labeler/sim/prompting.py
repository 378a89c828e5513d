"""A prompt-sensitive teacher: its accuracy depends on the prompt it is sent.

Off by default (the teacher answers with its one ``accuracy``). With a
``PromptSensitivity`` the accuracy of a request is, reading the messages as a real model
would see them:

1. the prompt version's own accuracy when ``prompt_accuracy`` names it (``{"classify-
   few-shot@1": 0.8}``), else the teacher's ``accuracy``. The version is recognised by the
   request's system message, compared with each named template's system prompt — the
   request itself carries no version;
2. at least ``example_accuracy`` when the prompt shows a worked example whose label is the
   text's true label: an example is a user turn with a ``<feedback>`` block followed by an
   assistant turn answering ``{"label": ...}``, before the message being labeled (static
   few-shot examples count as much as retrieved ones).

The same dice decide right or wrong (noise.py), so a text answered right at 0.7 is still
right at 0.9: comparisons between prompts on the same texts are paired.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sieve.core.errors import ConfigError
from sieve.labeler.prompts import extract_feedback, load_prompt


@dataclass(frozen=True)
class PromptSensitivity:
    # None: examples in the prompt change nothing.
    example_accuracy: float | None = None
    # Prompt version id → accuracy for requests rendered from that template.
    prompt_accuracy: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = [*self.prompt_accuracy.values()]
        if self.example_accuracy is not None:
            values.append(self.example_accuracy)
        if any(not 0.0 <= value <= 1.0 for value in values):
            raise ConfigError(f"prompt-sensitive accuracies must be within [0, 1]: {values}")

    @property
    def active(self) -> bool:
        return self.example_accuracy is not None or bool(self.prompt_accuracy)

    def systems(self) -> dict[str, str]:
        """System prompt → version id, for the versions ``prompt_accuracy`` names."""
        found = {}
        for version_id in self.prompt_accuracy:
            name, _, _ = version_id.partition("@")
            template = load_prompt(name)
            if template.version_id != version_id:
                raise ConfigError(f"prompt {version_id!r}: the file is {template.version_id}")
            found[template.system] = version_id
        return found

    def accuracy(
        self, messages: Sequence[Any], gold: str | None, default: float, systems: Mapping[str, str]
    ) -> float:
        system = next((_content(m) for m in messages if _role(m) == "system"), "")
        version = systems.get(system)
        accuracy = self.prompt_accuracy.get(version, default) if version else default
        relevant = gold is not None and gold in shown_example_labels(messages)
        if self.example_accuracy is not None and relevant:
            accuracy = max(accuracy, self.example_accuracy)
        return accuracy


def parse_prompt_accuracy(items: Sequence[str]) -> dict[str, float]:
    """``["classify-few-shot@1=0.8", ...]`` → ``{"classify-few-shot@1": 0.8}``."""
    parsed = {}
    for item in items:
        version, sep, value = item.partition("=")
        try:
            parsed[version.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or "@" not in version:
            raise ConfigError(f"expected NAME@VERSION=ACCURACY, got {item!r}")
    return parsed


def shown_example_labels(messages: Sequence[Any]) -> set[str]:
    """Labels of the worked examples before the message being labeled (the last user
    turn with a feedback block)."""
    targets = [
        i for i, m in enumerate(messages) if _role(m) == "user" and extract_feedback(_content(m))
    ]
    labels = set()
    for i in targets[:-1]:
        if i + 1 < len(messages) and _role(messages[i + 1]) == "assistant":
            label = _answered_label(_content(messages[i + 1]))
            if label is not None:
                labels.add(label)
    return labels


def _answered_label(content: str) -> str | None:
    try:
        answer = json.loads(content)
    except ValueError:
        return None
    label = answer.get("label") if isinstance(answer, dict) else None
    return label if isinstance(label, str) else None


def _role(message: Any) -> str:
    return str(message.get("role", "")) if isinstance(message, dict) else ""


def _content(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""

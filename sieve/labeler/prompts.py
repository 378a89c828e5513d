"""Versioned prompt templates, one YAML file each under ``sieve/labeler/prompts/``.

A template is data: name, version, description, system prompt, user template, few-shot
examples and output instructions. Its version string (``classify-zero-shot@1``) is
stored with every LLM label, so a change of wording is a new version, never an edit in
place.

The message text always sits between ``<feedback>`` and ``</feedback>`` in the user
message: the model is told that anything inside is data, and the teacher simulator
finds the text there (``extract_feedback``). Tags inside the text itself are escaped so
a message cannot close the block early and smuggle instructions out of it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from sieve.core.errors import ConfigError

logger = logging.getLogger(__name__)

# The YAML files sit in a data folder beside this module (package data, see pyproject).
_PROMPTS_FOLDER = resources.files("sieve.labeler").joinpath("prompts")
DEFAULT_PROMPT = "classify-zero-shot"

_PLACEHOLDER = re.compile(r"\{(labels|text|output_instructions)\}")
_REQUIRED_PLACEHOLDERS = ("{labels}", "{text}")
_OPEN, _CLOSE = "<feedback>", "</feedback>"
_TAG_IN_TEXT = re.compile(r"<(/?)feedback>", re.IGNORECASE)
_ESCAPED_TAG = re.compile(r"&lt;(/?)feedback&gt;", re.IGNORECASE)

ChatMessage = dict[str, str]


@dataclass(frozen=True)
class FewShotExample:
    text: str
    label: str
    rationale: str = ""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    description: str
    system: str
    user_template: str
    output_instructions: str
    examples: tuple[FewShotExample, ...] = ()
    # How many retrieved examples to ask for (0: the prompt uses none).
    retrieval_k: int = 0
    label_descriptions: tuple[tuple[str, str], ...] = ()

    @property
    def version_id(self) -> str:
        """What is stored with every label: ``name@version``."""
        return f"{self.name}@{self.version}"

    def render(
        self, text: str, labels: Sequence[str], retrieved: Sequence[FewShotExample] = ()
    ) -> list[ChatMessage]:
        """OpenAI chat messages: system, few-shot turns (labels in the set only; the static
        examples, then at most ``retrieval_k`` of ``retrieved``), the text."""
        if not labels:
            raise ConfigError("cannot render a prompt for an empty label set")
        label_set = set(labels)
        messages = [{"role": "system", "content": self.system}]
        for example in self.examples:
            if example.label in label_set:
                messages.append({"role": "user", "content": self._user(example.text, labels)})
                messages.append({"role": "assistant", "content": _example_answer(example)})
        # Retrieved examples show the message only: repeating the label list (and its
        # descriptions) in each of them multiplied the prompt's tokens by ~10 (Banking77).
        for example in retrieved[: self.retrieval_k]:
            if example.label in label_set:
                shown = f"Message:\n{_OPEN}\n{escape_feedback(example.text)}\n{_CLOSE}"
                messages.append({"role": "user", "content": shown})
                messages.append({"role": "assistant", "content": _example_answer(example)})
        messages.append({"role": "user", "content": self._user(text, labels)})
        return messages

    def _user(self, text: str, labels: Sequence[str]) -> str:
        described = dict(self.label_descriptions)
        values = {
            "labels": "\n".join(
                f"- {label}: {described[label]}" if label in described else f"- {label}"
                for label in labels
            ),
            "text": escape_feedback(text),
            "output_instructions": self.output_instructions,
        }
        # One pass: text inserted here is never scanned for placeholders again.
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], self.user_template)


def _example_answer(example: FewShotExample) -> str:
    return json.dumps({"label": example.label, "rationale": example.rationale})


def escape_feedback(text: str) -> str:
    """The text with any ``<feedback>``/``</feedback>`` tag inside it made inert."""
    return _TAG_IN_TEXT.sub(lambda match: f"&lt;{match.group(1)}feedback&gt;", text)


def unescape_feedback(text: str) -> str:
    return _ESCAPED_TAG.sub(lambda match: f"<{match.group(1)}feedback>", text)


def extract_feedback(content: str) -> str | None:
    """The message text of a rendered user message, or None when it has no feedback block."""
    start = content.find(_OPEN)
    end = content.rfind(_CLOSE)
    if start < 0 or end < start:
        return None
    return unescape_feedback(content[start + len(_OPEN) : end].strip("\n"))


def available_prompts() -> list[str]:
    """Names of the templates shipped in the package, sorted."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in _PROMPTS_FOLDER.iterdir()
        if entry.name.endswith(".yaml")
    )


def load_prompt(name: str) -> PromptTemplate:
    """The template called ``name`` (file ``prompts/<name>.yaml``); ConfigError if unknown."""
    resource = _PROMPTS_FOLDER.joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise ConfigError(f"unknown prompt {name!r}; available: {available_prompts()}")
    try:
        document = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"prompt {name!r}: not valid YAML: {exc}") from exc
    template = _from_document(document, name)
    logger.debug("loaded prompt %s", template.version_id)
    return template


def check_header(document: Any, name: str, kind: str, required: Sequence[str]) -> int:
    """The fields every prompt file has (a classification or a generation prompt, ``kind``)
    and the ``required`` pieces of its user template; returns its version."""
    if not isinstance(document, dict):
        raise ConfigError(f"{kind} {name!r}: expected a mapping at the top level")
    fields = ("name", "version", "description", "system", "user_template", "output_instructions")
    missing = [field for field in fields if field not in document]
    if missing:
        raise ConfigError(f"{kind} {name!r}: missing fields {missing}")
    if document["name"] != name:
        raise ConfigError(f"{kind} file {name!r} declares name {document['name']!r}")
    version = document["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"{kind} {name!r}: version must be a whole number >= 1")
    for piece in required:
        if piece not in document["user_template"]:
            raise ConfigError(f"{kind} {name!r}: user_template lacks {piece}")
    return version


def _from_document(document: Any, name: str) -> PromptTemplate:
    version = check_header(document, name, "prompt", _REQUIRED_PLACEHOLDERS)
    if f"{_OPEN}\n{{text}}\n{_CLOSE}" not in document["user_template"]:
        raise ConfigError(f"prompt {name!r}: {{text}} must sit alone inside <feedback> tags")
    examples = tuple(
        FewShotExample(
            text=str(item["text"]),
            label=str(item["label"]),
            rationale=str(item.get("rationale", "")),
        )
        for item in document.get("examples") or []
    )
    retrieval_k = document.get("retrieval_k", 0)
    if not isinstance(retrieval_k, int) or isinstance(retrieval_k, bool) or retrieval_k < 0:
        raise ConfigError(f"prompt {name!r}: retrieval_k must be a whole number >= 0")
    descriptions = document.get("label_descriptions")
    return PromptTemplate(
        name=name,
        version=version,
        description=str(document["description"]).strip(),
        system=str(document["system"]).strip(),
        user_template=str(document["user_template"]),
        output_instructions=str(document["output_instructions"]).strip(),
        examples=examples,
        retrieval_k=retrieval_k,
        label_descriptions=_descriptions(descriptions, name) if descriptions else (),
    )


def _descriptions(file_name: Any, prompt: str) -> tuple[tuple[str, str], ...]:
    """The label → description mapping of a YAML file in the prompts folder."""
    resource = _PROMPTS_FOLDER.joinpath(str(file_name))
    if not resource.is_file():
        raise ConfigError(f"prompt {prompt!r}: no label description file {file_name!r}")
    try:
        mapping = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file_name}: not valid YAML: {exc}") from exc
    if not isinstance(mapping, dict):
        raise ConfigError(f"{file_name}: expected a mapping label → description")
    return tuple((str(label), " ".join(str(line).split())) for label, line in mapping.items())

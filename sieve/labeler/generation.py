"""Generation prompts: ask the LLM to *write* example messages for a label (the synthetic
bootstrap), rather than to label one. Versioned YAML files under
``sieve/labeler/prompts/generation/``, apart from the classification prompts.

The rendered user message carries the request in tags the simulator reads back
(``generation_request``): ``<label>card_arrival</label>``, ``<count>20</count>`` and
``<batch>1</batch>`` (the round for this label: a second round asks for more, not the same).
The answer is one JSON object ``{"messages": [...]}`` (``parse_examples``); an answer that
is not is ``UnusableGeneration``, reported as malformed and never retried as is.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from sieve.core.errors import ConfigError, PermanentError
from sieve.labeler.prompts import ChatMessage, check_header

logger = logging.getLogger(__name__)

_FOLDER = resources.files("sieve.labeler").joinpath("prompts").joinpath("generation")
DEFAULT_GENERATION_PROMPT = "generate-examples"
_PLACEHOLDER = re.compile(r"\{(label|description|count|batch|output_instructions)\}")
_REQUIRED = ("<label>{label}</label>", "<count>{count}</count>", "<batch>{batch}</batch>")
_LABEL = re.compile(r"<label>(.*?)</label>", re.DOTALL)
_COUNT = re.compile(r"<count>(\d{1,4})</count>")
_BATCH = re.compile(r"<batch>(\d{1,4})</batch>")
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)


class UnusableGeneration(PermanentError):
    """The answer holds no ``{"messages": [...]}`` list of strings."""


@dataclass(frozen=True)
class GenerationRequest:
    """What a rendered generation prompt asks for (read back by the simulator)."""

    label: str
    count: int
    batch: int


@dataclass(frozen=True)
class GenerationPrompt:
    name: str
    version: int
    description: str
    system: str
    user_template: str
    output_instructions: str

    @property
    def version_id(self) -> str:
        """What is stored with every synthetic example and ledger row: ``name@version``."""
        return f"{self.name}@{self.version}"

    def render(
        self, label: str, count: int, *, batch: int = 1, description: str | None = None
    ) -> list[ChatMessage]:
        """System and user message asking for ``count`` messages about ``label``."""
        values = {
            "label": label,
            "description": description or label_description(label),
            "count": str(count),
            "batch": str(batch),
            "output_instructions": self.output_instructions,
        }
        user = _PLACEHOLDER.sub(lambda match: values[match.group(1)], self.user_template)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def label_description(label: str) -> str:
    """A label's name read as words (``card_arrival`` → "card arrival"): the description
    when the label set carries none."""
    return " ".join(label.replace("_", " ").replace("-", " ").split())


def load_generation_prompt(name: str = DEFAULT_GENERATION_PROMPT) -> GenerationPrompt:
    """The template ``prompts/generation/<name>.yaml``; ConfigError if unknown or invalid."""
    resource = _FOLDER.joinpath(f"{name}.yaml")
    if not resource.is_file():
        known = sorted(
            entry.name.removesuffix(".yaml")
            for entry in _FOLDER.iterdir()
            if entry.name.endswith(".yaml")
        )
        raise ConfigError(f"unknown generation prompt {name!r}; available: {known}")
    try:
        document = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"generation prompt {name!r}: not valid YAML: {exc}") from exc
    return _from_document(document, name)


def _from_document(document: Any, name: str) -> GenerationPrompt:
    version = check_header(document, name, "generation prompt", _REQUIRED)
    return GenerationPrompt(
        name=name,
        version=version,
        description=str(document["description"]).strip(),
        system=str(document["system"]).strip(),
        user_template=str(document["user_template"]),
        output_instructions=str(document["output_instructions"]).strip(),
    )


def generation_request(content: str) -> GenerationRequest | None:
    """The request of a rendered generation user message, or None for any other message."""
    label, count, batch = _LABEL.search(content), _COUNT.search(content), _BATCH.search(content)
    if label is None or count is None:
        return None
    return GenerationRequest(
        label=label.group(1).strip(),
        count=int(count.group(1)),
        batch=int(batch.group(1)) if batch else 1,
    )


def parse_examples(raw_answer: str) -> list[str]:
    """The strings of the answer's ``messages`` list, in order (non-strings skipped);
    UnusableGeneration when there is no such list."""
    text = raw_answer.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        document = json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        try:
            document = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except ValueError:
            document = None
    if isinstance(document, list):
        messages: Any = document
    elif isinstance(document, dict):
        messages = document.get("messages")
    else:
        messages = None
    if not isinstance(messages, list):
        raise UnusableGeneration(f"no messages list in the answer: {raw_answer[:120]!r}")
    return [item for item in messages if isinstance(item, str)]

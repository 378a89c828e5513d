"""The label event announced on the labels topic (DESIGN.md, "Data formats")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class LabelSource(StrEnum):
    MODEL = "model"
    LLM = "llm"
    HUMAN = "human"


@dataclass(frozen=True)
class LabelEvent:
    id: str
    label: str | None
    confidence: float
    source: LabelSource
    final: bool
    model_version: str | None
    prompt_version: str | None = None
    # Final LLM labels only: whether it differs from the fast model's provisional label.
    correction: bool | None = None
    provisional_label: str | None = None

    def encode(self) -> bytes:
        # vars(), not dataclasses.asdict(): asdict deep-copies, a fifth of the stream
        # worker's per-message time when it was used here.
        return json.dumps(vars(self), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes) -> LabelEvent:
        fields = json.loads(value)
        fields["source"] = LabelSource(fields["source"])
        return cls(**fields)

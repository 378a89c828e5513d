"""The label event announced on the labels topic (DESIGN.md, "Data formats")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class LabelSource(StrEnum):
    MODEL = "model"
    LLM = "llm"
    HUMAN = "human"


# A message's label events, in the order they supersede each other: the fast model's
# (provisional when escalated), the LLM's final one, a human's. A consumer that keeps the
# event with the highest revision per key ends with the final label, whatever order the
# events arrive in (see README, "Messages and events").
# One encoder for every event: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

REVISIONS = {LabelSource.MODEL: 1, LabelSource.LLM: 2, LabelSource.HUMAN: 3}


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
    # 0: the revision of the source (REVISIONS), filled in on construction.
    revision: int = 0

    def __post_init__(self) -> None:
        if self.revision == 0:
            object.__setattr__(self, "revision", REVISIONS[LabelSource(self.source)])

    def encode(self) -> bytes:
        # vars(), not dataclasses.asdict(): asdict deep-copies, a fifth of the stream
        # worker's per-message time when it was used here.
        return _ENCODER.encode(vars(self)).encode()

    @classmethod
    def decode(cls, value: bytes) -> LabelEvent:
        fields = json.loads(value)
        fields["source"] = LabelSource(fields["source"])
        return cls(**fields)

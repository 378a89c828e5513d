"""The label event announced on the labels topic (DESIGN.md, "Data formats")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum


class LabelSource(StrEnum):
    MODEL = "model"
    # A routing rule decided (forced label, final; or forced escalation, provisional). A
    # rule's label is the operator's, not evidence about the text: it is never stored as
    # a label row, so it never trains the fast model (README, "Rules").
    RULE = "rule"
    LLM = "llm"
    HUMAN = "human"


# A message's label events, in the order they supersede each other: the fast model's
# (provisional when escalated), the LLM's final one, a human's. A consumer that keeps the
# event with the highest revision per key ends with the final label, whatever order the
# events arrive in (see README, "Messages and events").
# A rule's event takes the fast model's place (the stream worker's decision).
REVISIONS = {LabelSource.MODEL: 1, LabelSource.RULE: 1, LabelSource.LLM: 2, LabelSource.HUMAN: 3}
# One encoder for every event: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


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
    # Source RULE only: the name of the routing rule that decided (reason "rule:<name>").
    rule: str | None = None

    def __post_init__(self) -> None:
        if self.revision == 0:
            object.__setattr__(self, "revision", REVISIONS[LabelSource(self.source)])

    def encode(self) -> bytes:
        # vars(), not dataclasses.asdict(): asdict deep-copies, a fifth of the stream
        # worker's per-message time when it was used here.
        fields = vars(self)
        if self.rule is None:  # only rule events carry it: the others stay as they were
            fields = {key: value for key, value in fields.items() if key != "rule"}
        return _ENCODER.encode(fields).encode()

    @classmethod
    def decode(cls, value: bytes) -> LabelEvent:
        fields = json.loads(value)
        fields["source"] = LabelSource(fields["source"])
        return cls(**fields)

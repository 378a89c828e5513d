"""What one labeling produced: the validated label plus everything needed to account for it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LLMAnswer:
    label: str
    rationale: str
    # The last answer as the model wrote it (the one that parsed).
    raw_answer: str
    # Summed over every paid call of this labeling (a corrective retry is a second call).
    tokens_in: int
    tokens_out: int
    latency_ms: float
    # The model asked for (part of the cache key and of the label row's unique key) ...
    model: str
    prompt_version: str
    # ... and the model the endpoint says answered (a dated snapshot, a quantisation).
    response_model: str = ""
    calls: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, value: str | bytes) -> LLMAnswer:
        """Raises ValueError (or a subclass) when ``value`` is not a serialised answer."""
        document: Any = json.loads(value)
        if not isinstance(document, dict):
            raise ValueError("a cached answer must be a JSON object")
        try:
            return cls(**document)
        except TypeError as exc:
            raise ValueError(f"not a cached answer: {exc}") from exc

"""Parse an LLM answer into (label, rationale) and map it onto the label set, defensively.

Accepted shapes, tried in order:
1. the whole answer (or the inside of a ```json code fence) is one JSON object;
2. JSON objects embedded in chatter ("Sure! {...} Hope this helps") — every object that
   has a ``label`` key must agree, otherwise the answer is ambiguous;
3. a bare label, optionally quoted, with an optional ``label:`` prefix and a trailing
   full stop.

The label is then matched exactly, or else case-, whitespace-, hyphen- and
underscore-insensitively. Anything else — an unknown label, an empty answer, a JSON
array, prose that merely mentions a label — raises ``LabelOutsideSet``: a label that is
not in the set is never returned, whatever the feedback text asked the model to say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sieve.core.errors import PermanentError
from sieve.labeler.usage import RequestOutcome

MAX_RATIONALE_CHARS = 500
_RAW_IN_MESSAGE_CHARS = 200

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_BARE_PREFIX = re.compile(r"^(?:label|answer|category)\s*[:=]\s*", re.IGNORECASE)
_FOLD = re.compile(r"[\s_\-]+")


class LabelOutsideSet(PermanentError):
    """The answer does not name exactly one label of the set. Never retried as is.

    ``outcome``: OUTSIDE_SET when the answer named a label that is not in the set,
    MALFORMED when no label could be read from it at all."""

    def __init__(
        self,
        reason: str,
        raw_answer: str,
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
        outcome: RequestOutcome = RequestOutcome.MALFORMED,
    ) -> None:
        shown = (
            raw_answer
            if len(raw_answer) <= _RAW_IN_MESSAGE_CHARS
            else raw_answer[:_RAW_IN_MESSAGE_CHARS] + "…"
        )
        super().__init__(f"{reason}: {shown!r}")
        self.reason = reason
        self.raw_answer = raw_answer
        # Tokens of the paid calls that produced no label (set by the client).
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        self.outcome = outcome


@dataclass(frozen=True)
class ParsedAnswer:
    label: str
    rationale: str


def parse_answer(raw_answer: str, labels: Sequence[str]) -> ParsedAnswer:
    """The label of the set the answer names, and its one-line rationale."""
    text = raw_answer.strip()
    if not text:
        raise LabelOutsideSet("empty answer", raw_answer)
    candidate, rationale = _candidate(text, raw_answer)
    label = match_label(candidate, labels)
    if label is None:
        raise LabelOutsideSet(
            f"label {candidate[:80]!r} is not in the label set",
            raw_answer,
            outcome=RequestOutcome.OUTSIDE_SET,
        )
    return ParsedAnswer(label=label, rationale=_one_line(rationale))


def match_label(candidate: str, labels: Sequence[str]) -> str | None:
    """The label ``candidate`` names: exact, else the unique case/space/_/- folded match."""
    exact, folded = _index(tuple(labels))
    stripped = candidate.strip()
    if stripped in exact:
        return stripped
    return folded.get(_fold(stripped))


@lru_cache(maxsize=32)
def _index(labels: tuple[str, ...]) -> tuple[frozenset[str], dict[str, str]]:
    by_fold: dict[str, list[str]] = {}
    for label in labels:
        by_fold.setdefault(_fold(label), []).append(label)
    # Two labels folding to the same key would make the loose match a guess: exact only.
    folded = {key: found[0] for key, found in by_fold.items() if len(found) == 1}
    return frozenset(labels), folded


def _fold(value: str) -> str:
    return _FOLD.sub("", value.casefold())


def _candidate(text: str, raw_answer: str) -> tuple[str, str]:
    """(label candidate, rationale) from the first shape of the answer that applies."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    whole = _loads(text)
    if whole is not _NOT_JSON:
        return _from_document(whole, raw_answer)
    objects = [found for found in _embedded_objects(text) if _label_key(found) is not None]
    if objects:
        candidates = [_from_document(found, raw_answer) for found in objects]
        if len({label for label, _ in candidates}) > 1:
            raise LabelOutsideSet("answer holds several different labels", raw_answer)
        return candidates[0]
    if "{" in text or "[" in text:
        raise LabelOutsideSet("answer holds no valid JSON object with a label", raw_answer)
    return _bare(text, raw_answer), ""


_NOT_JSON = object()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


def _embedded_objects(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    position = text.find("{")
    while position >= 0:
        try:
            document, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(document, dict):
            found.append(document)
        position = text.find("{", end)
    return found


def _label_key(document: dict[str, Any]) -> str | None:
    for key in document:
        if isinstance(key, str) and key.strip().casefold() == "label":
            return key
    return None


def _from_document(document: Any, raw_answer: str) -> tuple[str, str]:
    if isinstance(document, str):
        return document, ""
    if not isinstance(document, dict):
        kind = "array" if isinstance(document, list) else type(document).__name__
        raise LabelOutsideSet(f"answer is a JSON {kind}, expected one object", raw_answer)
    key = _label_key(document)
    if key is None:
        raise LabelOutsideSet("JSON answer has no 'label' field", raw_answer)
    label = document[key]
    if not isinstance(label, str):
        raise LabelOutsideSet("the 'label' field is not a string", raw_answer)
    rationale = next(
        (value for name, value in document.items() if str(name).casefold() == "rationale"), ""
    )
    return label, rationale if isinstance(rationale, str) else ""


def _bare(text: str, raw_answer: str) -> str:
    if "\n" in text:
        raise LabelOutsideSet("answer is prose, not a label", raw_answer)
    candidate = _BARE_PREFIX.sub("", text).strip().rstrip(".").strip().strip("\"'`").strip()
    if not candidate:
        raise LabelOutsideSet("empty label", raw_answer)
    return candidate


def _one_line(rationale: str) -> str:
    line = " ".join(rationale.split())
    return line if len(line) <= MAX_RATIONALE_CHARS else line[: MAX_RATIONALE_CHARS - 1] + "…"

"""Labeled datasets: JSON Lines ``{"id", "text", "label"}`` and label-set files."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sieve.core.errors import PermanentError

logger = logging.getLogger(__name__)

_FIELDS = ("id", "text", "label")


@dataclass(frozen=True)
class LabeledText:
    id: str
    text: str
    label: str


def read_labeled_jsonl(path: Path) -> list[LabeledText]:
    """Every record of a JSON Lines file; blank lines are skipped.

    Raises PermanentError naming ``file:line`` for a line that is not a JSON object with
    string ``id``, ``text`` and ``label``, and for a file that cannot be read.
    """
    try:
        with path.open(encoding="utf-8") as lines:
            records = [
                _parse(line, f"{path}:{number}")
                for number, line in enumerate(lines, start=1)
                if line.strip()
            ]
    except (OSError, UnicodeDecodeError) as exc:
        raise PermanentError(f"{path}: cannot read labeled data: {exc}") from exc
    logger.debug("read %d labeled records from %s", len(records), path)
    return records


def _parse(line: str, where: str) -> LabeledText:
    try:
        document = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PermanentError(f"{where}: not JSON: {exc.msg}") from exc
    if not isinstance(document, dict):
        raise PermanentError(f"{where}: not a JSON object")
    for name in _FIELDS:
        if name not in document:
            raise PermanentError(f"{where}: missing field {name!r}")
        if not isinstance(document[name], str):
            raise PermanentError(f"{where}: field {name!r} is not a string")
    if not document["label"]:
        raise PermanentError(f"{where}: empty label")
    return LabeledText(id=document["id"], text=document["text"], label=document["label"])


def data_hash(records: Iterable[LabeledText]) -> str:
    """sha256 over the sorted (id, text, label) triples: the same data in any order."""
    digest = hashlib.sha256()
    for triple in sorted((r.id, r.text, r.label) for r in records):
        digest.update(json.dumps(triple, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def read_label_set(path: Path) -> list[str]:
    """Labels of a labels.txt, one per line, in file order; blank lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PermanentError(f"{path}: cannot read the label set: {exc}") from exc
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise PermanentError(f"{path}: no labels")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise PermanentError(f"{path}: duplicate labels: {duplicates}")
    return labels


LABELS_TXT = "labels.txt"
TRAIN_JSONL = "train.jsonl"


def label_set_for_data_dir(data_dir: Path) -> list[str]:
    """The label set of a data directory (a demo's or a benchmark's): its ``labels.txt``
    when there is one, else the sorted distinct labels of its ``train.jsonl``."""
    listed = data_dir / LABELS_TXT
    if listed.is_file():
        return read_label_set(listed)
    train = data_dir / TRAIN_JSONL
    if not train.is_file():
        raise PermanentError(
            f"{data_dir}: neither {LABELS_TXT} nor {TRAIN_JSONL} to take labels from"
        )
    labels = sorted({record.label for record in read_labeled_jsonl(train)})
    if not labels:
        raise PermanentError(f"{train}: no labeled records")
    logger.info("label set of %s: %d labels from %s", data_dir, len(labels), train)
    return labels


def label_indices(
    texts: Sequence[str], labels: Sequence[str], label_set: Sequence[str]
) -> list[int]:
    """Each training label's position in ``label_set``: what every student family trains
    on. PermanentError for no data or a label outside the set; ValueError when the texts
    and labels do not pair up (a caller's bug)."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise PermanentError("no training data")
    index = {label: position for position, label in enumerate(label_set)}
    unknown = sorted(set(labels) - index.keys())
    if unknown:
        raise PermanentError(f"labels outside the label set: {unknown[:5]}")
    return [index[label] for label in labels]

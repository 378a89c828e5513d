"""Review files: the queue written out for people (JSON Lines or CSV), and the human labels
read back.

Export writes one item per line/row with an empty ``label`` field; a person fills it in
and the same file is imported. Import reads JSON Lines (``{"id", "label"}`` per line,
other fields ignored) or CSV (a header naming ``id`` and ``label``), by the file's
extension (``.csv``; anything else is JSON Lines). Every row is judged on its own: a
good row is kept, a bad one is reported with its line number; a row whose label is
blank is skipped (not labeled yet).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from sieve.core.errors import PermanentError

# Columns of an exported file, in order; ``label`` is left empty for the reviewer.
EXPORT_FIELDS = (
    "id",
    "text",
    "reasons",
    "student_label",
    "student_confidence",
    "llm_label",
    "escalation_reason",
    "escalated_at",
    "label",
)


class ReviewFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def write_review_file(rows: Iterable[Mapping[str, Any]], fmt: ReviewFormat, out: IO[str]) -> int:
    """Write ``rows`` (EXPORT_FIELDS keys; ``reasons`` a sequence) and return how many."""
    count = 0
    if fmt is ReviewFormat.CSV:
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
    for row in rows:
        record = {name: row.get(name) for name in EXPORT_FIELDS}
        if fmt is ReviewFormat.CSV:
            record["reasons"] = ";".join(record["reasons"] or ())
            writer.writerow({k: "" if v is None else v for k, v in record.items()})
        else:
            record["reasons"] = list(record["reasons"] or ())
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


@dataclass(frozen=True)
class LabelRow:
    line: int
    message_id: str
    label: str


@dataclass
class ImportedLabels:
    good: list[LabelRow] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    blank: int = 0  # rows without a label yet


def read_review_file(path: Path, label_set: Sequence[str]) -> ImportedLabels:
    """The rows of ``path``, judged one by one against ``label_set``. A file that cannot
    be read at all (missing, not UTF-8, a CSV without the two columns) is a PermanentError."""
    known = set(label_set)
    result = ImportedLabels()
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = _csv_rows(handle, path) if path.suffix.lower() == ".csv" else _jsonl_rows(handle)
            for line, row in rows:
                if isinstance(row, str):
                    result.bad.append((line, row))
                    continue
                message_id, label = row
                if not label.strip():
                    result.blank += 1
                elif label not in known:
                    result.bad.append((line, f"label {label!r} is not in the label set"))
                else:
                    result.good.append(LabelRow(line, message_id, label))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PermanentError(f"{path}: cannot read review labels: {exc}") from exc
    return result


# A row is (id, label), or a string saying why it is bad.
_Row = tuple[int, tuple[str, str] | str]


def _jsonl_rows(handle: IO[str]) -> Iterator[_Row]:
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line, f"not JSON ({exc.msg})"
            continue
        if not isinstance(document, dict):
            yield line, "not a JSON object"
            continue
        yield line, _pair(document.get("id"), document.get("label"))


def _csv_rows(handle: IO[str], path: Path) -> Iterator[_Row]:
    reader = csv.DictReader(handle)
    if reader.fieldnames is None or not {"id", "label"} <= set(reader.fieldnames):
        raise PermanentError(f"{path}: a CSV review file needs a header with id and label")
    for row in reader:
        # The line the row ends on (1 is the header); a quoted field may span lines.
        yield reader.line_num, _pair(row.get("id"), row.get("label"))


def _pair(message_id: object, label: object) -> tuple[str, str] | str:
    if not isinstance(message_id, str) or not message_id:
        return "no id (a non-empty string)"
    if label is None:
        label = ""
    if not isinstance(label, str):
        return "label is not a string"
    return message_id, label

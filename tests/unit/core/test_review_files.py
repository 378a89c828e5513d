"""Review files: what export writes, and how import judges each row on its own."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from sieve.core.errors import PermanentError
from sieve.core.review_files import EXPORT_FIELDS, ReviewFormat, read_review_file, write_review_file

LABELS = ["age_limit", "card_arrival"]
ITEM = {
    "id": "m1",
    "text": 'two\nlines, "quoted"',
    "reasons": ["disagreement", "exploration"],
    "student_label": "card_arrival",
    "student_confidence": 0.4,
    "llm_label": None,
    "escalation_reason": "exploration",
    "escalated_at": "2026-03-10T14:30:00+00:00",
    "label": "",
}


def test_csv_export_reads_back_with_every_field() -> None:
    out = io.StringIO()

    assert write_review_file([ITEM, {**ITEM, "id": "m2"}], ReviewFormat.CSV, out) == 2

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == EXPORT_FIELDS
    assert rows[0]["text"] == ITEM["text"]
    assert rows[0]["reasons"] == "disagreement;exploration"
    assert rows[0]["llm_label"] == "" and rows[1]["id"] == "m2"


def test_jsonl_export_keeps_types() -> None:
    out = io.StringIO()

    write_review_file([ITEM], ReviewFormat.JSONL, out)

    (line,) = out.getvalue().splitlines()
    assert json.loads(line) == ITEM


def test_csv_import_counts_lines_of_multiline_fields(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    out = io.StringIO()
    write_review_file(
        [{**ITEM, "label": "age_limit"}, {**ITEM, "id": "m2", "label": "wrong"}],
        ReviewFormat.CSV,
        out,
    )
    path.write_text(out.getvalue())

    result = read_review_file(path, LABELS)

    assert [(row.message_id, row.label) for row in result.good] == [("m1", "age_limit")]
    # The header is line 1; each record's text spans two lines.
    assert result.bad == [(5, "label 'wrong' is not in the label set")]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"label": "age_limit"}', "no id"),
        ('{"id": 3, "label": "age_limit"}', "no id"),
        ('{"id": "m1", "label": 3}', "label is not a string"),
        ('{"id": "m1", "label": "Age_Limit"}', "not in the label set"),
    ],
)
def test_a_bad_jsonl_row_is_named_by_line_and_the_rest_kept(
    tmp_path: Path, line: str, why: str
) -> None:
    path = tmp_path / "labels.jsonl"
    good = json.dumps({"id": "m2", "label": "card_arrival"})
    path.write_text(f"{good}\n\n{line}\n{good.replace('m2', 'm3')}\n")

    result = read_review_file(path, LABELS)

    assert [row.message_id for row in result.good] == ["m2", "m3"]
    assert [row.line for row in result.good] == [1, 4]
    assert len(result.bad) == 1
    assert result.bad[0][0] == 3 and why in result.bad[0][1]


def test_blank_labels_are_skipped_not_bad(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": "m1", "label": ""}\n{"id": "m2"}\n')

    result = read_review_file(path, LABELS)

    assert (result.good, result.bad, result.blank) == ([], [], 2)


def test_an_unreadable_file_is_one_permanent_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_bytes(b"\xff\xfe not utf-8")

    with pytest.raises(PermanentError, match="cannot read review labels"):
        read_review_file(path, LABELS)

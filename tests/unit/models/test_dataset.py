from __future__ import annotations

import json
from pathlib import Path

import pytest

from sieve.core.dataset import (
    LabeledText,
    data_hash,
    label_set_for_data_dir,
    read_label_set,
    read_labeled_jsonl,
)
from sieve.core.errors import PermanentError


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good(index: int) -> str:
    return json.dumps({"id": f"m{index}", "text": f"text {index} é", "label": "x", "extra": 1})


def test_reads_records_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [good(1), "", good(2)])
    assert read_labeled_jsonl(path) == [
        LabeledText("m1", "text 1 é", "x"),
        LabeledText("m2", "text 2 é", "x"),
    ]


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"id": "m", "text": "t"}', "missing field 'label'"),
        ('{"id": 7, "text": "t", "label": "x"}', "field 'id' is not a string"),
        ('{"id": "m", "text": null, "label": "x"}', "field 'text' is not a string"),
    ],
)
def test_bad_line_names_file_line_and_reason(tmp_path: Path, bad_line: str, reason: str) -> None:
    path = write_lines(tmp_path / "d.jsonl", [good(1), good(2), bad_line])
    with pytest.raises(PermanentError) as caught:
        read_labeled_jsonl(path)
    assert f"{path}:3" in str(caught.value)
    assert reason in str(caught.value)


def test_missing_file_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"missing\.jsonl"):
        read_labeled_jsonl(tmp_path / "missing.jsonl")


def test_data_hash_ignores_order_and_sees_changes() -> None:
    one, two = LabeledText("1", "a", "x"), LabeledText("2", "b", "y")
    assert data_hash([one, two]) == data_hash([two, one])
    assert data_hash([one, two]) != data_hash([one, LabeledText("2", "b", "x")])
    assert len(data_hash([])) == 64


def test_read_label_set(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "labels.txt", ["b", "a ", "", "c"])
    assert read_label_set(path) == ["b", "a", "c"]
    with pytest.raises(PermanentError, match="duplicate"):
        read_label_set(write_lines(tmp_path / "dup.txt", ["a", "a"]))
    with pytest.raises(PermanentError):
        read_label_set(tmp_path / "none.txt")


def labeled(label: str, index: int) -> str:
    return json.dumps({"id": f"m{index}", "text": f"text {index}", "label": label})


def test_label_set_of_a_data_dir_is_its_labels_txt(tmp_path: Path) -> None:
    write_lines(tmp_path / "labels.txt", ["z", "a", "m"])
    write_lines(tmp_path / "train.jsonl", [labeled("a", 1)])
    assert label_set_for_data_dir(tmp_path) == ["z", "a", "m"]


def test_without_labels_txt_the_label_set_is_derived_from_train_jsonl(tmp_path: Path) -> None:
    write_lines(tmp_path / "train.jsonl", [labeled(x, i) for i, x in enumerate("cabca")])
    assert label_set_for_data_dir(tmp_path) == ["a", "b", "c"]


def test_a_data_dir_without_labels_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"neither labels\.txt nor train\.jsonl"):
        label_set_for_data_dir(tmp_path)

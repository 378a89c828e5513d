"""The deployment's label set and the start-up check against the active model's labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sieve.core.errors import ConfigError
from sieve.store.versions import ModelVersionRecord, activate_model_version, register_model_version
from sieve.workers.label_set import (
    check_active_model_labels,
    deployment_label_set,
    label_set_for_run,
)


def labels_file(path: Path, labels: list[str]) -> Path:
    path.write_text("\n".join(labels) + "\n", encoding="utf-8")
    return path


def active_model(engine: Engine, folder: Path, labels: list[str]) -> None:
    """A registered, active version whose artefact folder holds ``labels.json``."""
    folder.mkdir()
    (folder / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    register_model_version(engine, ModelVersionRecord("v1", "ngram", str(folder), "h", {}))
    activate_model_version(engine, "v1", reason="test")


def test_a_missing_label_set_file_names_the_setting_and_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        deployment_label_set(Path("data/banking77/labels.txt"))
    message = str(caught.value)
    assert "SIEVE_LABELS_FILE" in message and "data/banking77/labels.txt" in message
    assert f"relative to {tmp_path}" in message


def test_no_active_model_is_a_cold_start_not_a_mismatch(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    check_active_model_labels(sqlite_engine, labels_file(tmp_path / "l.txt", ["a", "b"]))


def test_the_same_labels_in_another_order_agree(sqlite_engine: Engine, tmp_path: Path) -> None:
    active_model(sqlite_engine, tmp_path / "v1", ["b", "a", "c"])
    check_active_model_labels(sqlite_engine, labels_file(tmp_path / "l.txt", ["a", "b", "c"]))


def test_other_labels_are_refused_in_one_line(sqlite_engine: Engine, tmp_path: Path) -> None:
    active_model(sqlite_engine, tmp_path / "v1", ["a", "b", "x"])
    with pytest.raises(ConfigError) as caught:
        check_active_model_labels(
            sqlite_engine, labels_file(tmp_path / "l.txt", ["a", "b", "c", "d"])
        )
    message = str(caught.value)
    assert "\n" not in message
    assert "v1" in message and "1 (x) only in the model" in message
    assert "2 (c, d) only in the label set" in message


def test_a_run_takes_the_data_dirs_label_set_unless_the_setting_is_given(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    labels_file(data / "labels.txt", ["b", "a"])
    assert label_set_for_run(None, data, {"a"}) == ["b", "a"]
    explicit = labels_file(tmp_path / "mine.txt", ["a", "b", "c"])
    assert label_set_for_run(explicit, data, {"a", "c"}) == ["a", "b", "c"]


def test_a_run_whose_data_has_labels_outside_the_set_is_refused(tmp_path: Path) -> None:
    explicit = labels_file(tmp_path / "mine.txt", ["a", "b"])
    with pytest.raises(ConfigError, match=r"not in SIEVE_LABELS_FILE=.*: 2 \(x, y\)"):
        label_set_for_run(explicit, tmp_path, {"a", "x", "y"})

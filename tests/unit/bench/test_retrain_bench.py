"""`sieve bench retrain` on a small slice of Banking77: the figures it promises, from two
real retraining runs (the second gated against the first) on a store it fills itself."""

from __future__ import annotations

import json

import pytest

from sieve.bench.retrain import figures
from sieve.cli.main import main
from sieve.core.errors import PermanentError
from sieve.store.engine import make_engine
from sieve.store.labels import ok_label_count
from sieve.workers.distill.phases import Phase
from tests.conftest import BANKING77

LABELS = 400  # above retrain.min_labels (200); enough for a held-out slice


def test_figures_on_sqlite_name_the_total_and_each_phase() -> None:
    result = {figure.name: figure for figure in figures(BANKING77 / "train.jsonl", labels=LABELS)}
    phases = [f"retrain.ngram.400.{phase.value}_s" for phase in Phase]
    assert list(result) == [
        "retrain.ngram.400.s",
        "retrain.ngram.400.first_s",
        "retrain.ngram.400.cpu_s",
        *phases,
    ]
    total = result["retrain.ngram.400.s"]
    assert total.target == "≤ 10 s" and total.command == "sieve bench retrain"
    assert total.unit == "s" and total.baseline is None
    assert "ngram" in total.note and f"{LABELS} labels" in total.note
    # The phases cover the run: their sum is the run's time less what lies between them.
    assert 0 < sum(result[name].value for name in phases) <= total.value
    assert all(result[name].value > 0 for name in phases)


def test_fills_the_given_postgres_store(postgres_url: str) -> None:
    figures(BANKING77 / "train.jsonl", labels=LABELS, store_url=postgres_url)
    engine = make_engine(postgres_url)
    try:
        assert ok_label_count(engine) == LABELS
    finally:
        engine.dispose()


def test_refuses_a_store_that_is_not_empty(postgres_url: str) -> None:
    figures(BANKING77 / "train.jsonl", labels=LABELS, store_url=postgres_url)
    with pytest.raises(PermanentError, match="must be empty"):
        figures(BANKING77 / "train.jsonl", labels=LABELS, store_url=postgres_url)


def test_refuses_more_labels_than_the_file_has(tmp_path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"id": "1", "text": "hello", "label": "card"}\n')
    with pytest.raises(PermanentError, match="1 labeled records, 10 needed"):
        figures(data, labels=10)


def test_cli_prints_one_json_figure_per_line(capsys) -> None:
    data = str(BANKING77 / "train.jsonl")
    assert main(["bench", "retrain", "--data", data, "--labels", str(LABELS), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["name"] == "retrain.ngram.400.s" and lines[0]["unit"] == "s"
    assert len(lines) == 3 + len(Phase)

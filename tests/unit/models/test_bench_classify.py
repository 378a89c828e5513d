from __future__ import annotations

from pathlib import Path

from sieve.bench import classify
from sieve.models.families.ngram.training import TrainedModel
from sieve.models.registry import ModelRegistry
from tests.unit.models.conftest import synthetic, write_jsonl


def test_bench_reports_every_stage_per_batch_size(
    small_model: TrainedModel, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "data.jsonl", *synthetic(20, seed=4))
    info = ModelRegistry(tmp_path / "models").save(small_model, data_hash="h", metrics={})
    rows = classify.run(data, info.path, batch_sizes=(1, 8), duration_s=0.01)
    assert [(r["batch_size"], r["stage"]) for r in rows] == [
        (size, stage) for size in (1, 8) for stage in ("featurise", "infer", "end_to_end")
    ]
    assert all(r["items_per_s"] > 0 and r["items"] >= 1 for r in rows)
    table = classify.format_table(rows)
    assert "end_to_end" in table and len(table.splitlines()) == 7


def test_bench_trains_and_measures_a_minilm_model(tmp_path: Path, encoder_cache_dir: Path) -> None:
    from sieve.bench import minilm

    data = write_jsonl(tmp_path / "data.jsonl", *synthetic(24, seed=5))
    rows = classify.run(
        data,
        None,
        batch_sizes=(1, 8),
        duration_s=0.01,
        family="minilm",
        cache_dir=encoder_cache_dir,
    )
    assert [(r["batch_size"], r["stage"]) for r in rows] == [
        (size, stage) for size in (1, 8) for stage in ("featurise", "infer", "end_to_end")
    ]
    assert all(r["items_per_s"] > 0 for r in rows)
    # Retraining twice on the same labels: the second run encodes nothing.
    retrain = minilm.retrain_rows(data, encoder_cache_dir, threads=1, count=24)
    assert [(r["cache"], r["encoded"]) for r in retrain] == [("cold", 24), ("warm", 0)]
    assert "warm" in minilm.format_retrain(retrain)

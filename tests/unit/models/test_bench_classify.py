from __future__ import annotations

from pathlib import Path

from sieve.bench import classify
from sieve.models.registry import ModelRegistry
from sieve.models.training import TrainedModel
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

"""The minilm family through the entry points: `sieve train` and retraining from stored labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sieve.core.dataset import read_labeled_jsonl
from sieve.models.registry import ModelRegistry
from sieve.store.engine import make_engine
from sieve.store.labels import LabelRecord, save_label
from sieve.store.repository import MessageRecord, save_messages
from sieve.store.training import RunTrigger, create_run
from sieve.store.versions import active_model_version, get_model_version
from sieve.workers.distill.retrain import run_retrain
from tests.conftest import BANKING77


def test_sieve_train_with_the_minilm_family(tmp_path, encoder_cache_dir):
    rows = read_labeled_jsonl(BANKING77 / "train.jsonl")[::20]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(vars(r)) + "\n" for r in rows))
    held_out = tmp_path / "eval.jsonl"
    test_rows = read_labeled_jsonl(BANKING77 / "test.jsonl")[::20]
    held_out.write_text("".join(json.dumps(vars(r)) + "\n" for r in test_rows))
    env = {
        **os.environ,
        "SIEVE_DATA_DIR": str(tmp_path / "data"),
        "SIEVE_MODELS__FAMILY": "minilm",
        "SIEVE_MODELS__ENCODER_CACHE_DIR": str(encoder_cache_dir),
        "SIEVE_MODELS__TRAIN_THREADS": "2",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sieve.cli",
            "train",
            "--data",
            str(data),
            "--eval",
            str(held_out),
            "--labels",
            str(BANKING77 / "labels.txt"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model version minilm-" in result.stdout and "active" in result.stdout
    accuracy = float(result.stdout.split("accuracy on ")[1].split(": ")[1].split()[0])
    assert accuracy > 0.75  # measured 0.85 with 500 training texts
    listing = subprocess.run(
        [sys.executable, "-m", "sieve.cli", "models"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "minilm" in listing.stdout


def test_retraining_with_the_minilm_family(settings, tmp_path, encoder_cache_dir):
    settings = settings.model_copy(
        update={
            "labels_file": BANKING77 / "labels.txt",
            "models": settings.models.model_copy(
                update={
                    "family": "minilm",
                    "encoder_cache_dir": encoder_cache_dir,
                    "train_threads": 2,
                }
            ),
        }
    )
    engine = make_engine(settings.database_url)
    rows = read_labeled_jsonl(BANKING77 / "train.jsonl")[::8]
    save_messages(engine, [MessageRecord(id=r.id, text=r.text) for r in rows])
    for row in rows:
        save_label(engine, LabelRecord(row.id, "llm", "p@1", "teacher", row.label, "ok"))
    registry = ModelRegistry(tmp_path / "models", cache_dir=encoder_cache_dir)

    first = run_retrain(settings, engine, registry, create_run(engine, trigger=RunTrigger.CLI))
    assert (first["status"], first["promoted"]) == ("succeeded", True), first
    version = first["model_version"]
    assert version.startswith("minilm-") and active_model_version(engine) == version
    assert get_model_version(engine, version).family == "minilm"
    assert first["metrics"]["macro_f1"] > 0.7
    assert 0.05 < first["metrics"]["routing"]["temperature"] < 20

    # An under-trained head (1 epoch = 5 L-BFGS iterations) is worse on the same slice.
    weak = settings.model_copy(
        update={"retrain": settings.retrain.model_copy(update={"epochs": 1})}
    )
    second = run_retrain(weak, engine, registry, create_run(engine, trigger=RunTrigger.CLI))
    assert (second["status"], second["promoted"]) == ("succeeded", False), second
    assert active_model_version(engine) == version
    engine.dispose()

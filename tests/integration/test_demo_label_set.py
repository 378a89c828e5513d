"""`sieve demo --data-dir DIR` on a dataset with other labels than Banking77's: the demo
takes DIR's label set (no labels.txt there: the labels of its train.jsonl), hands it to
the simulator, the Celery worker and retraining, and the LLM's answers are accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from sieve.store.engine import make_engine
from sieve.store.tables import labels
from sieve.store.versions import active_model_version, get_model_version
from tests.conftest import ROOT, require_service

TOPICS = {
    "billing": "I was charged {n} times on invoice number {n} for my {thing}",
    "delivery": "my parcel with the {thing} is {n} days late, where is the courier",
    "login": "cannot sign in to my account, the password reset code {n} fails on my {thing}",
    "refund": "please send my money back for the broken {thing}, order {n}",
}
THINGS = ["lamp", "chair", "phone", "kettle", "desk", "bike", "watch", "camera", "sofa", "rug"]


def _write(path: Path, per_label: int, offset: int) -> dict[str, str]:
    rows, gold = [], {}
    for label, template in TOPICS.items():
        for i in range(offset, offset + per_label):
            row_id = f"{label}-{i}"
            text = template.format(n=i, thing=THINGS[i % len(THINGS)])
            rows.append(json.dumps({"id": row_id, "text": text, "label": label}))
            gold[row_id] = label
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return gold


def test_demo_on_another_dataset_uses_its_labels(tmp_path: Path) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    data = tmp_path / "tickets"
    data.mkdir()
    gold = _write(data / "train.jsonl", per_label=60, offset=0)
    gold |= _write(data / "test.jsonl", per_label=10, offset=1000)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SIEVE_")}
    env["SIEVE_DATA_DIR"] = str(tmp_path / "run")
    # Not a label setting: the session's exported MiniLM encoder, so the demo (default
    # family minilm) does not export its own.
    env["SIEVE_MODELS__ENCODER_CACHE_DIR"] = os.environ["SIEVE_MODELS__ENCODER_CACHE_DIR"]
    demo = subprocess.run(
        [
            *(sys.executable, "-m", "sieve.cli", "demo"),
            *("--data-dir", str(data), "--chunk-size", "100"),
        ],
        env=env,
        cwd=ROOT,  # where the default SIEVE_LABELS_FILE (Banking77's) would be found
        capture_output=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stderr.decode()[-3000:]

    engine = make_engine(f"sqlite:///{tmp_path / 'run' / 'demo' / 'sieve.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            select(labels.c.message_id, labels.c.label, labels.c.status).where(
                labels.c.source == "llm"
            )
        ).all()
    version = active_model_version(engine)

    assert len(rows) >= 200  # the cold start sends everything to the LLM
    assert {row.status for row in rows} == {"ok"}  # no answer refused as outside the set
    assert {row.label for row in rows} <= set(TOPICS)
    llm_accuracy = sum(row.label == gold[row.message_id] for row in rows) / len(rows)
    assert llm_accuracy > 0.6  # the simulator answers right 80% of the time
    assert version is not None
    model_labels = json.loads(
        (Path(get_model_version(engine, version).path) / "labels.json").read_text()
    )
    engine.dispose()
    assert sorted(model_labels) == sorted(TOPICS)  # retrained on the same four labels
    assert (tmp_path / "run" / "demo" / "labels.txt").read_text().split() == sorted(TOPICS)

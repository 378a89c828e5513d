"""Done-when of the distillation loop: cold start sends everything to the LLM; after one
retraining on the LLM labels of the first 2,000 messages, less than half of the next 1,000
go to the LLM and accuracy on them stays within 3 points of the teacher's."""

from __future__ import annotations

import random

from sieve.core.settings import Settings
from sieve.labeler.simulator import load_teacher
from sieve.models.dataset import read_labeled_jsonl
from sieve.workers.demo import run_loop
from tests.conftest import BANKING77


def test_the_loop_closes(postgres_url, redis_prefix, tmp_path):
    from sieve.store.migrate import upgrade

    upgrade(postgres_url)
    items = read_labeled_jsonl(BANKING77 / "train.jsonl")
    random.Random(5).shuffle(items)
    items = items[:3000]
    result = run_loop(
        Settings(_env_file=None),
        items,
        data_dir=BANKING77,
        work_dir=tmp_path,
        chunk_size=1000,
        overrides={
            "SIEVE_DATABASE__URL": postgres_url,
            "SIEVE_RETRAIN__MIN_LABELS": "2000",
            "SIEVE_RETRAIN__MIN_NEW_LABELS": "1000000",
        },
    )
    cold, _, after = result.blocks
    assert cold.llm_share == 1.0 and cold.model_versions == "none"
    assert after.model_versions != "none"
    teacher = load_teacher(
        [BANKING77 / "train.jsonl", BANKING77 / "test.jsonl"],
        accuracy=0.8,
        noise="confusable",
        seed=0,
    )
    last = items[2000:]
    teacher_accuracy = sum(teacher.choose(i.text).label == i.label for i in last) / len(last)
    print(
        f"after retraining: {after.llm_share:.1%} to the LLM, accuracy {after.accuracy:.1%}, "
        f"teacher {teacher_accuracy:.1%}"
    )
    assert after.llm_share < 0.5
    assert after.accuracy >= teacher_accuracy - 0.03

"""`sieve bench bootstrap`: how much of the cold start the synthetic bootstrap saves.

Two runs from an empty store on the same stream, same settings, same simulated LLM (80%
accurate, confusable noise, as the cascade): **cold** (no model until the first
retraining) and **bootstrap** (`sieve bootstrap` first: examples per label from the
simulated LLM, a first student trained on them). Each streams the first
``stream_messages`` of the data's *test* split (seeded order) in chunks through
``bootstrap_loop``, and reports per chunk the share sent to the LLM and the accuracy of
the final labels against gold, and in total the LLM calls (the bootstrap's generation
calls included) and their cost.

Why this is fair: the simulated generator answers with texts of the asked label drawn
from the *train* split (``sieve.labeler.sim.generator``), with 10% off-label and 5%
duplicate outputs, and never a text whose normalised form is in the test split. So the
bootstrap student has seen texts like the stream's — as an LLM's paraphrases would be —
never the stream's own, and the stream is the same for both runs. It flatters the
bootstrap in one way: Banking77's train texts are real customer messages, closer to the
stream than an LLM's writing would be (documented in the README).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from sieve.bench.bootstrap_loop import LoopRun, run_loop, run_settings
from sieve.bench.figures import Figure
from sieve.core.dataset import label_set_for_data_dir, read_labeled_jsonl
from sieve.core.errors import PermanentError
from sieve.core.settings import Settings
from sieve.labeler.sim.generator import ExampleGenerator
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher
from sieve.workers.label_set import write_label_set

ORDER_SEED = 77
ACCURACY = 0.8
VARIANTS = ("cold", "bootstrap")


def main(
    settings: Settings,
    *,
    data_dir: Path,
    family: str = "ngram",
    per_label: int = 20,
    stream_messages: int = 2_000,
    chunk_size: int = 500,
) -> list[Figure]:
    train_path, test_path = data_dir / "train.jsonl", data_dir / "test.jsonl"
    for path in (train_path, test_path):
        if not path.is_file():
            raise PermanentError(f"{path} is missing (the bootstrap bench needs both)")
    labels = label_set_for_data_dir(data_dir)
    train, test = read_labeled_jsonl(train_path), read_labeled_jsonl(test_path)
    random.Random(ORDER_SEED).shuffle(test)
    stream = test[:stream_messages]
    runs: dict[str, LoopRun] = {}
    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as tmp:
        labels_file = write_label_set(Path(tmp) / "labels.txt", labels)
        teacher = load_teacher(
            [train_path, test_path],
            accuracy=ACCURACY,
            noise="confusable",
            seed=0,
            labels_path=labels_file,
        )
        generator = ExampleGenerator(train, exclude=[item.text for item in test])
        llm_only = sum(teacher.choose(item.text).label == item.label for item in stream)
        with SimulatorServer(teacher, generator=generator) as simulator:
            for variant in VARIANTS:
                work_dir = Path(tmp) / variant
                work_dir.mkdir()
                print(f"== {variant}: {len(stream)} test messages, {family}", flush=True)
                runs[variant] = run_loop(
                    run_settings(settings, work_dir, labels_file, simulator.base_url, family),
                    stream,
                    labels,
                    bootstrap=variant == "bootstrap",
                    per_label=per_label,
                    chunk_size=chunk_size,
                )
    _print_table(runs, llm_only / max(len(stream), 1))
    command = (
        f"sieve bench bootstrap --family {family} --per-label {per_label} "
        f"--stream-messages {stream_messages} --chunk-size {chunk_size}"
    )
    return figures(runs["bootstrap"], runs["cold"], len(stream), command, family)


def figures(boot: LoopRun, cold: LoopRun, messages: int, command: str, family: str) -> list[Figure]:
    """The bootstrap run's figures, each with the cold run's as baseline (same run)."""
    marks = sorted({mark for mark in (1_000, messages) if mark <= messages})
    found: list[Figure] = []
    note = f"{family} student; simulated LLM {ACCURACY:.0%} accurate, confusable noise"
    for mark in marks:
        for name, unit, of in (
            ("llm_share", "share", LoopRun.share),
            ("accuracy", "share", LoopRun.accuracy),
        ):
            found.append(
                Figure(
                    f"bootstrap.first{mark}.{name}",
                    of(boot, mark),
                    unit,
                    baseline=of(cold, mark),
                    baseline_of="cold start (no bootstrap)",
                    command=command,
                    note=note,
                )
            )
    for name, unit, value, baseline in (
        ("llm_calls", "requests", boot.calls, cold.calls),
        ("cost_usd", "USD", boot.cost_usd, cold.cost_usd),
    ):
        found.append(
            Figure(
                f"bootstrap.first{messages}.{name}",
                float(value),
                unit,
                baseline=float(baseline),
                baseline_of="cold start (no bootstrap)",
                command=command,
                note="generation calls included" if name == "llm_calls" else note,
            )
        )
    return found


def _print_table(runs: dict[str, LoopRun], llm_only: float) -> None:
    print()
    print(f"{'run':<10} {'messages':>9} {'LLM share':>10} {'accuracy':>9}  model")
    for variant, run in runs.items():
        first = 0
        for chunk in run.chunks:
            share = chunk.escalated / max(chunk.messages, 1)
            accuracy = chunk.correct / max(chunk.messages, 1)
            span = f"{first + 1}-{first + chunk.messages}"
            print(
                f"{variant:<10} {span:>9} {share:>10.1%} {accuracy:>9.1%}  "
                f"{chunk.model_version or 'none (cold start)'}"
            )
            first += chunk.messages
    print()
    for variant, run in runs.items():
        generation = run.generation
        extra = ""
        if generation is not None:
            extra = (
                f"; generation: {generation.calls} calls, {generation.generated} texts, "
                f"{generation.kept} kept, dropped {generation.dropped}"
            )
        print(
            f"{variant:<10} LLM calls {run.calls}, cost USD {run.cost_usd:.4f}, "
            f"retrainings {run.retrainings}{extra}"
        )
    print(f"LLM only on the same messages: accuracy {llm_only:.1%}")

"""Teacher simulator benchmark: label the Banking77 test file through the real LLM client.

Starts the simulator on train + test (so every test text is known), labels every test
text over HTTP with ``LLMClient`` from a thread pool, and prints the measured accuracy
against the gold labels (the simulator's ``--accuracy`` is the target), calls/s and
tokens — both as the client counted them and as the simulator billed them. With fault
rates given, transient errors are retried with ``backoff_s`` as a task would.

    python -m sieve.bench.teacher --accuracy 0.8 --noise confusable
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sieve.core.dataset import LabeledText, label_set_for_data_dir, read_labeled_jsonl
from sieve.core.errors import PermanentError
from sieve.core.logging import setup_logging
from sieve.labeler.answer import LLMAnswer
from sieve.labeler.client import LLMClient, TransientLLMError, backoff_s
from sieve.labeler.prompts import PromptTemplate, available_prompts, load_prompt
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.faults import FaultRates, LatencySpec
from sieve.labeler.sim.noise import NoiseKind
from sieve.labeler.sim.simulator import SimulatorServer, load_teacher

MAX_ATTEMPTS = 6


def _label_with_retries(
    client: LLMClient, text: str, prompt: PromptTemplate, labels: Sequence[str], rng: random.Random
) -> LLMAnswer:
    for attempt in range(MAX_ATTEMPTS):
        try:
            return client.label(text, prompt, labels)
        except TransientLLMError as exc:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            time.sleep(backoff_s(attempt, 0.05, 2.0, exc.retry_after_s, rng))
    raise AssertionError("unreachable")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sieve bench teacher", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data/banking77"))
    parser.add_argument("--accuracy", type=float, default=0.8)
    parser.add_argument("--noise", choices=[kind.value for kind in NoiseKind], default="confusable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt", choices=available_prompts(), default="classify-zero-shot")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--latency-ms", default="0", help="simulated latency: MS or LOW-HIGH")
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--rate-5xx", type=float, default=0.0)
    parser.add_argument("--limit", type=int, help="label only the first N test rows")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging("WARNING")
    data_dir: Path = args.data_dir
    rows: list[LabeledText] = read_labeled_jsonl(data_dir / "test.jsonl")[: args.limit]
    labels = label_set_for_data_dir(data_dir)
    prompt = load_prompt(args.prompt)

    started = time.perf_counter()
    teacher = load_teacher(
        [data_dir / "train.jsonl", data_dir / "test.jsonl"],
        accuracy=args.accuracy,
        noise=args.noise,
        seed=args.seed,
    )
    startup_s = time.perf_counter() - started
    config = SimulatorConfig(
        seed=args.seed,
        latency=LatencySpec.parse(args.latency_ms),
        faults=FaultRates(rate_limit=args.rate_429, server_error=args.rate_5xx),
        retry_after_s=0,
    )
    outcomes: Counter[str] = Counter()
    tokens = Counter[str]()
    lock = threading.Lock()

    with SimulatorServer(teacher, config) as simulator:
        client = LLMClient(
            base_url=simulator.base_url, api_key="", model=config.model, timeout_s=10.0
        )

        def label_one(index: int) -> None:
            row = rows[index]
            try:
                answer = _label_with_retries(client, row.text, prompt, labels, random.Random(index))
            except (TransientLLMError, PermanentError) as exc:
                with lock:
                    outcomes[f"failed: {type(exc).__name__}"] += 1
                return
            with lock:
                outcomes["correct" if answer.label == row.label else "wrong"] += 1
                tokens["in"] += answer.tokens_in
                tokens["out"] += answer.tokens_out

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            list(pool.map(label_one, range(len(rows))))
        elapsed_s = time.perf_counter() - started
        stats = simulator.stats()
        client.close()

    answered = outcomes["correct"] + outcomes["wrong"]
    accuracy = outcomes["correct"] / answered if answered else 0.0
    print(f"teacher-sim: accuracy target {args.accuracy:.2f}, noise {args.noise}, seed {args.seed}")
    print(f"  simulator start-up (load + confusable labels): {startup_s:.2f} s")
    print(f"  rows labeled: {answered} of {len(rows)} ({dict(outcomes)})")
    print(f"  measured accuracy: {accuracy:.2%} ({outcomes['correct']}/{answered})")
    print(
        f"  {stats['requests']} calls in {elapsed_s:.2f} s = {stats['requests'] / elapsed_s:.0f}"
        f" calls/s with {args.threads} threads (paid {stats['paid_calls']},"
        f" failed {stats['failed_calls']})"
    )
    print(
        f"  tokens in/out: client {tokens['in']}/{tokens['out']},"
        f" simulator {stats['prompt_tokens']}/{stats['completion_tokens']}"
        f" ({tokens['in'] / max(answered, 1):.0f} prompt tokens per text, {prompt.version_id})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

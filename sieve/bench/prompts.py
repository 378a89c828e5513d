"""Prompt benchmark (`sieve bench prompts`): what retrieval-grounded prompts gain, and the
prompt A/B bandit converging, on the real labeling task body.

Each message goes through ``label_escalated`` — the body of the Celery task, in this
process — with the store (a SQLite file), the answer cache and leases in that store, the
ledger, and the teacher simulator over HTTP in prompt-sensitive mode: its accuracy is
``--accuracy`` without help, ``--example-accuracy`` when the prompt shows a worked example
whose label is the text's true label, and per prompt version for the A/B. Label events are
discarded (no Kafka): the figures are about labels, not delivery.

1. **Retrieval** — the same test messages (registered as the gold set) labeled twice:
   ``classify-zero-shot`` and ``classify-retrieval`` (5 nearest labeled examples from the
   store — a pool of training texts, a third human-labeled, the rest with the simulated
   LLM's noisy labels — embedded by the MiniLM encoder, and label descriptions). Accuracy
   of the stored LLM labels against gold, for each.
2. **Bandit** — in a fresh store (the same pool, no reward yet), other gold messages in
   blocks, labeled by a pool of three prompt versions chosen by Thompson sampling (every
   message is an audited gold item, so each label is a reward); per block the share of
   traffic per version, until the promotion and one block after it.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from sieve.bench.figures import Figure
from sieve.bench.prompts_setup import (
    EncoderEmbedder,
    NoEvents,
    fresh_store,
    register_gold,
)
from sieve.core.dataset import LabeledText, label_set_for_data_dir, read_labeled_jsonl
from sieve.core.settings import BanditSettings, Settings
from sieve.labeler.cache import InMemoryAnswerCache
from sieve.labeler.client import LLMClient
from sieve.labeler.cost import ModelPrice
from sieve.labeler.prompts import load_prompt
from sieve.labeler.sim.endpoint import SimulatorConfig
from sieve.labeler.sim.noise import Teacher
from sieve.labeler.sim.prompting import PromptSensitivity
from sieve.labeler.sim.simulator import SimulatorServer
from sieve.models.registry import open_registry
from sieve.store import prompt_arms
from sieve.store.ledger import LedgerRecorder, SpendGroup, spend_by
from sieve.workers.llm.examples import StoreExamples
from sieve.workers.llm.labeling import LabelingContext, label_escalated
from sieve.workers.llm.leases import StoreLeases
from sieve.workers.llm.prompt_choice import PromptChooser, load_prompts

COMMAND = "sieve bench prompts"
# Priced like a small hosted model (USD per 1M input / output tokens), for the cost column.
PRICES = {"teacher-sim": ModelPrice(0.15, 0.60)}
ZERO_SHOT, FEW_SHOT, RETRIEVAL = "classify-zero-shot", "classify-few-shot", "classify-retrieval"


@dataclass(frozen=True)
class BenchOptions:
    data_dir: Path = Path("data/banking77")
    messages: int = 300  # part 1: gold messages labeled by each prompt
    pool: int = 3_000  # labeled training texts in the store
    blocks: int = 30  # part 2: at most this many blocks
    block_size: int = 50
    accuracy: float = 0.70
    example_accuracy: float = 0.90
    zero_shot_accuracy: float = 0.65
    few_shot_accuracy: float = 0.75
    seed: int = 0


def _context(
    engine: Engine,
    client: LLMClient,
    labels: Sequence[str],
    prompts: Sequence[str],
    *,
    chooser: PromptChooser | None = None,
    examples: StoreExamples | None = None,
) -> LabelingContext:
    templates = load_prompts(prompts)
    return LabelingContext(
        engine=engine,
        producer=NoEvents(),
        labels_topic="feedback.labels",
        client=client,
        cache=InMemoryAnswerCache(),
        leases=StoreLeases(engine),
        prompt=templates[0],
        labels=labels,
        ledger=LedgerRecorder(engine),
        chooser=chooser,
        examples=examples,
    )


def _retrieval(
    engine: Engine,
    client: LLMClient,
    labels: Sequence[str],
    examples: StoreExamples,
    gold: Sequence[LabeledText],
) -> list[Figure]:
    versions = [load_prompt(name).version_id for name in (ZERO_SHOT, RETRIEVAL)]
    print(f"\n1. retrieval: {len(gold)} gold messages, each labeled by {' and '.join(versions)}")
    hits = 0
    for record in gold:
        shown = examples.nearest(record.text, 5, message_id=f"gold-{record.id}")
        hits += record.label in {example.label for example in shown}
    for name, source in ((ZERO_SHOT, None), (RETRIEVAL, examples)):
        ctx = _context(engine, client, labels, [name], examples=source)
        started = time.monotonic()
        for record in gold:
            label_escalated(ctx, f"gold-{record.id}")
        print(f"   {name}: {len(gold)} labels in {time.monotonic() - started:.1f} s")
    rewards = prompt_arms.rewards(engine, versions)
    spend = {row.group: row for row in spend_by(engine, SpendGroup.PROMPT_VERSION)}
    accuracy = {v: rewards[v].correct / (rewards[v].correct + rewards[v].wrong) for v in versions}
    print(f"   {'prompt version':<24} {'accuracy':>9} {'tokens in/label':>16} {'USD/1k':>7}")
    for version in versions:
        tokens = spend[version].tokens_in / max(spend[version].requests, 1)
        usd = 1000 * spend[version].cost_usd / max(spend[version].requests, 1)
        print(f"   {version:<24} {accuracy[version]:>9.3f} {tokens:>16.0f} {usd:>7.3f}")
    print(f"   an example with the true label among the 5 shown: {hits / len(gold):.3f}")
    return [
        Figure(
            "prompts.retrieval.accuracy",
            accuracy[versions[1]],
            "accuracy",
            baseline=accuracy[versions[0]],
            baseline_of=f"{versions[0]}, same messages, same run",
            command=COMMAND,
            note="LLM labels vs gold; simulator prompt-sensitive",
        ),
        Figure("prompts.retrieval.example_hit_rate", hits / len(gold), "share", command=COMMAND),
    ]


def _bandit(
    engine: Engine,
    client: LLMClient,
    labels: Sequence[str],
    examples: StoreExamples,
    stream: Sequence[LabeledText],
    options: BenchOptions,
) -> list[Figure]:
    bandit = BanditSettings(confidence=0.95, min_rewards=30, refresh_s=0.0, seed=options.seed)
    names = [ZERO_SHOT, FEW_SHOT, RETRIEVAL]
    chooser = PromptChooser(engine, load_prompts(names), llm_model=client.model, bandit=bandit)
    ctx = _context(engine, client, labels, names, chooser=chooser, examples=examples)
    versions = sorted(chooser.prompts)
    print(f"\n2. bandit over {', '.join(versions)}: blocks of {options.block_size} gold messages")
    print("   " + " ".join(f"{v:>22}" for v in versions) + "  promoted")
    promoted_block: int | None = None
    shares: list[dict[str, float]] = []
    for block in range(options.blocks):
        chunk = stream[block * options.block_size : (block + 1) * options.block_size]
        if len(chunk) < options.block_size:
            break
        for record in chunk:
            label_escalated(ctx, f"gold-{record.id}")
        assigned = Counter(
            prompt_arms.assigned(engine, chooser.pool, f"gold-{r.id}") for r in chunk
        )
        shares.append({v: assigned[v] / len(chunk) for v in versions})
        row = " ".join(f"{shares[-1][v]:>22.2f}" for v in versions)
        print(f"   {row}  {chooser.promoted or '-'}")
        if chooser.promoted is not None and promoted_block is None:
            promoted_block = block
        if promoted_block is not None and block >= promoted_block + 1:
            break
    print(f"   {'prompt version':<24} {'labels':>7} {'rewards':>8} {'accuracy':>9} {'USD/1k':>7}")
    for arm_row in prompt_arms.version_figures(engine):
        accuracy = "-" if arm_row.accuracy is None else f"{arm_row.accuracy:.3f}"
        cost = 1000 * arm_row.cost_usd / arm_row.labels if arm_row.labels else 0.0
        rewards = arm_row.correct + arm_row.wrong
        print(
            f"   {arm_row.prompt_version:<24} {arm_row.labels:>7} {rewards:>8}"
            f" {accuracy:>9} {cost:>7.3f}"
        )
    arms = {arm.prompt_version: arm for arm in prompt_arms.arms(engine, chooser.pool)}
    figures = [Figure("prompts.bandit.blocks", len(shares), "blocks", command=COMMAND)]
    winner = chooser.promoted
    if winner is not None and promoted_block is not None:
        reason = arms[winner].reason or ""
        rewards = int(reason.rsplit("after ", 1)[-1].split()[0]) if "after " in reason else 0
        print(f"   promoted {winner} in block {promoted_block + 1}: {reason}")
        figures += [
            Figure(
                "prompts.bandit.promoted_after", rewards, "rewards", command=COMMAND, note=winner
            ),
            Figure(
                "prompts.bandit.winner_share_first_block",
                shares[0][winner],
                "share",
                command=COMMAND,
                note=winner,
            ),
        ]
    else:
        print("   no version promoted within the blocks run")
    return figures


def run(settings: Settings, options: BenchOptions) -> list[Figure]:
    labels = label_set_for_data_dir(options.data_dir)
    train = read_labeled_jsonl(options.data_dir / "train.jsonl")
    test = read_labeled_jsonl(options.data_dir / "test.jsonl")
    rng = random.Random(options.seed)
    pool = rng.sample(train, min(options.pool, len(train)))
    shuffled = rng.sample(test, len(test))
    gold = shuffled[: options.messages]
    stream = shuffled[options.messages : options.messages + options.blocks * options.block_size]
    teacher = Teacher(
        [*train, *test], accuracy=options.accuracy, noise="confusable", seed=options.seed
    )
    sensitivity = PromptSensitivity(
        example_accuracy=options.example_accuracy,
        prompt_accuracy={
            load_prompt(ZERO_SHOT).version_id: options.zero_shot_accuracy,
            load_prompt(FEW_SHOT).version_id: options.few_shot_accuracy,
        },
    )
    print(
        f"simulated LLM: {options.accuracy:.2f} accurate, {options.example_accuracy:.2f} with an"
        f" example of the true label, {ZERO_SHOT} {options.zero_shot_accuracy:.2f},"
        f" {FEW_SHOT} {options.few_shot_accuracy:.2f}; labeling in this process through"
        " label_escalated (the task body), simulator over HTTP"
    )
    embedder = EncoderEmbedder(open_registry(settings).cache_dir)
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # a line per label would bury the tables
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimulatorServer(teacher, SimulatorConfig(prompts=sensitivity)) as sim,
    ):
        client = LLMClient(
            base_url=sim.base_url, api_key="", model="teacher-sim", timeout_s=10, prices=PRICES
        )
        engine, examples = fresh_store(f"sqlite:///{tmp}/retrieval.db", teacher, pool, embedder)
        register_gold(engine, gold)
        figures = _retrieval(engine, client, labels, examples, gold)
        engine.dispose()
        engine, examples = fresh_store(f"sqlite:///{tmp}/bandit.db", teacher, pool, embedder)
        register_gold(engine, stream)
        figures += _bandit(engine, client, labels, examples, stream, options)
        engine.dispose()
        client.close()
    quiet.setLevel(level)
    print()
    for figure in figures:
        print(figure.to_json())
    return figures

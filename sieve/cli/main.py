"""The `sieve` command line. Each subcommand builds Settings, logs it, and calls a service."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from sieve.cli.args import existing_file, positive_float, positive_int
from sieve.cli.commands import (
    cmd_admin,
    cmd_beat,
    cmd_bench,
    cmd_bootstrap,
    cmd_costs,
    cmd_demo,
    cmd_gold_set,
    cmd_label_file,
    cmd_migrate,
    cmd_models,
    cmd_pregenerate,
    cmd_produce,
    cmd_requeue,
    cmd_retrain,
    cmd_stream,
    cmd_teacher_sim,
    cmd_train,
    cmd_worker,
)
from sieve.cli.review import add_review_command
from sieve.cli.rules import cmd_rules
from sieve.core.errors import PermanentError, SieveError, TransientError
from sieve.core.logging import log_effective_config, setup_logging
from sieve.core.settings import Settings

logger = logging.getLogger("sieve")


# The speed suite's parts (sieve.bench.suite.PARTS), named here so that --help and a bad
# name need no benchmark import.
SPEED_PARTS = ("classify", "stream", "latency", "scale", "retrain", "llm")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sieve",
        description="Classify a stream of customer feedback with a fast model, an LLM for the "
        "uncertain, and distillation between them. Settings come from SIEVE_* variables.",
    )
    parser.add_argument("--log-level", help="override SIEVE_LOG_LEVEL (DEBUG, INFO, ...)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub = commands.add_parser("migrate", help="create or upgrade the label store's schema")
    sub.set_defaults(handler=cmd_migrate)

    sub = commands.add_parser("stream", help="run the stream worker (Kafka -> model -> store)")
    sub.add_argument("--max-messages", type=positive_int, help="stop after this many records")
    sub.add_argument(
        "--idle-timeout-s",
        type=positive_float,
        help="stop after this many seconds without a message (counted once assigned)",
    )
    sub.set_defaults(handler=cmd_stream)

    sub = commands.add_parser("produce", help="publish a JSON Lines file to a topic, keyed by id")
    sub.add_argument("file", type=existing_file, metavar="FILE.jsonl")
    sub.add_argument("--topic", help="topic (default: SIEVE_KAFKA__INPUT_TOPIC)")
    sub.add_argument("--limit", type=positive_int, help="publish only the first N lines")
    sub.add_argument("--shuffle-seed", type=int, help="publish in a seeded random order")
    sub.set_defaults(handler=cmd_produce)

    sub = commands.add_parser("train", help="train a fast model from labeled JSON Lines")
    sub.add_argument("--data", type=existing_file, required=True, metavar="FILE.jsonl")
    sub.add_argument("--eval", type=existing_file, metavar="FILE.jsonl", help="print accuracy")
    sub.add_argument("--labels", type=existing_file, help="label set, one per line")
    sub.add_argument("--epochs", type=positive_int, help="training epochs")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_argument(
        "--no-activate", action="store_true", help="register the version without activating it"
    )
    sub.set_defaults(handler=cmd_train)

    sub = commands.add_parser("models", help="list model versions or activate one")
    sub.add_argument("action", nargs="?", choices=("list", "activate"), default="list")
    sub.add_argument("version", nargs="?")
    sub.set_defaults(handler=cmd_models)

    sub = commands.add_parser(
        "bench",
        help="benchmarks that print figures",
        description="Without a name: the speed suite (classify, stream, latency, scale, ...).",
    )
    sub.add_argument(
        "bench",
        nargs="?",
        choices=(
            "classify",
            "stream",
            "latency",
            "scale",
            "llm",
            "teacher",
            "cascade",
            "faults",
            "prompts",
            "bootstrap",
            "retrain",
        ),
        help="one benchmark (default: the speed suite)",
    )
    sub.add_argument(
        "--json", action="store_true", help="speed suite, retrain: JSON, a figure per line"
    )
    sub.add_argument(
        "--results", type=Path, metavar="FILE", help="speed suite: rewrite its section of FILE"
    )
    sub.add_argument(
        "--part",
        action="append",
        default=[],
        choices=SPEED_PARTS,
        help="speed suite: only this part; repeatable (default: all)",
    )
    sub.add_argument("--rate", type=positive_int, default=1_000, help="latency: msg/s offered")
    sub.add_argument("--seconds", type=positive_int, default=10, help="latency: seconds offered")
    sub.add_argument("--data", type=existing_file, default=Path("data/banking77/train.jsonl"))
    sub.add_argument("--model", type=Path, help="artefact folder (classify; default: train one)")
    sub.add_argument(
        "--family",
        choices=("ngram", "minilm"),
        help="classify, bootstrap: student family to train (default: SIEVE_MODELS__FAMILY; "
        "bootstrap: ngram)",
    )
    sub.add_argument(
        "--messages",
        type=positive_int,
        help="stream, scale: messages (20,000); prompts: gold messages per prompt (500)",
    )
    sub.add_argument(
        "--labels", type=positive_int, default=10_000, help="retrain: stored labels to train on"
    )
    sub.add_argument(
        "--store-url",
        metavar="URL",
        help="retrain: an empty database to fill (default: a SQLite file in a temporary folder)",
    )
    sub.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/banking77"),
        help="cascade, bootstrap: a folder with train.jsonl, test.jsonl and optionally labels.txt",
    )
    sub.add_argument(
        "--families", default="ngram,minilm", help="cascade: student families, comma-separated"
    )
    sub.add_argument(
        "--variants",
        default="stream,defaults,gold,share,unseen",
        help="cascade: which runs (stream, defaults, gold, share, unseen), comma-separated",
    )
    sub.add_argument(
        "--chunk-size", type=positive_int, default=500, help="cascade: messages per chunk"
    )
    sub.add_argument(
        "--out", type=Path, default=Path("bench/RESULTS.md"), help="cascade: results file"
    )
    sub.add_argument(
        "--per-label", type=positive_int, default=20, help="bootstrap: examples per label"
    )
    sub.add_argument(
        "--stream-messages",
        type=positive_int,
        default=2_000,
        help="bootstrap: test messages streamed after the bootstrap",
    )
    sub.add_argument(
        "--short", action="store_true", help="faults: the shortened form CI runs (~4 min)"
    )
    sub.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="faults: this scenario only"
    )
    sub.add_argument(
        "--postgres",
        default="host=127.0.0.1 port=5432 user=postgres dbname=postgres",
        metavar="DSN",
        help="faults: a PostgreSQL server where fresh databases can be created",
    )
    sub.set_defaults(handler=cmd_bench)

    sub = commands.add_parser("worker", help="run a Celery worker (LLM labeling tasks)")
    sub.add_argument("--concurrency", type=positive_int, help="worker processes")
    sub.set_defaults(handler=cmd_worker)

    sub = commands.add_parser("beat", help="run the Celery beat scheduler (run exactly one)")
    sub.set_defaults(handler=cmd_beat)

    sub = commands.add_parser(
        "teacher-sim", help="an OpenAI-compatible LLM stand-in answering from a labeled file"
    )
    from sieve.labeler.sim.simulator import add_arguments

    add_arguments(sub)
    sub.set_defaults(handler=cmd_teacher_sim)

    sub = commands.add_parser("label-file", help="enqueue LLM labeling of a JSON Lines backlog")
    sub.add_argument("file", type=existing_file, metavar="FILE.jsonl")
    sub.add_argument("--chunk-size", type=positive_int, default=500, help="rows per chunk")
    sub.set_defaults(handler=cmd_label_file)

    sub = commands.add_parser(
        "gold-set",
        help="register human gold labels: evaluated on at every retraining, never trained",
    )
    sub.add_argument("file", type=existing_file, metavar="FILE.jsonl")
    sub.set_defaults(handler=cmd_gold_set)

    add_review_command(commands)

    sub = commands.add_parser("requeue", help="re-enqueue failed LLM labels and stuck escalations")
    sub.add_argument("--pending-only", action="store_true", help="only escalations never enqueued")
    sub.add_argument(
        "--stuck-after-s",
        type=positive_float,
        metavar="S",
        help="also re-enqueue escalations enqueued more than S seconds ago and still unlabeled",
    )
    sub.set_defaults(handler=cmd_requeue)

    sub = commands.add_parser(
        "bootstrap",
        help="before any traffic: ask the LLM for examples per label, train a first student",
    )
    sub.add_argument(
        "--per-label", type=positive_int, help="examples per label (SIEVE_BOOTSTRAP__PER_LABEL)"
    )
    sub.add_argument("--seed", type=int, help="generation seed (SIEVE_BOOTSTRAP__SEED)")
    sub.add_argument(
        "--verify",
        action="store_true",
        help="keep only examples the classification prompt labels as asked (one call each)",
    )
    sub.set_defaults(handler=cmd_bootstrap)

    sub = commands.add_parser(
        "pregenerate",
        help="warm the LLM answer cache for the most frequent texts not answered yet",
    )
    sub.add_argument(
        "--limit", type=positive_int, default=1_000, help="texts to ask at most (default 1000)"
    )
    sub.add_argument("--prompt", help="classification prompt (default: SIEVE_LLM__PROMPT)")
    sub.add_argument(
        "--min-count",
        type=positive_int,
        default=2,
        help="only texts of at least this many stored messages (default 2)",
    )
    sub.set_defaults(handler=cmd_pregenerate)

    sub = commands.add_parser("retrain", help="retrain the fast model from stored labels")
    sub.add_argument("--wait", action="store_true", help="train here and now, with progress")
    sub.set_defaults(handler=cmd_retrain)

    sub = commands.add_parser("admin", help="serve the admin API (retrain, runs, models, stats)")
    sub.set_defaults(handler=cmd_admin)

    sub = commands.add_parser(
        "costs", help="LLM requests, tokens and cost (the ledger) per prompt version, model, ..."
    )
    sub.add_argument(
        "--by", choices=("prompt_version", "model", "outcome", "day"), default="prompt_version"
    )
    sub.set_defaults(handler=cmd_costs)

    sub = commands.add_parser("rules", help="check a routing rules file and print its rules")
    sub.add_argument("action", choices=("check",))
    sub.add_argument("file", type=existing_file, metavar="FILE")
    sub.add_argument(
        "--labels", type=existing_file, help="label set file (default: SIEVE_LABELS_FILE)"
    )
    sub.set_defaults(handler=cmd_rules)

    sub = commands.add_parser("demo", help="run the pipeline end to end on embedded defaults")
    sub.add_argument("--data-dir", type=Path, default=Path("data/banking77"))
    sub.add_argument("--limit", type=positive_int, help="stream only the first N messages")
    sub.add_argument(
        "--chunk-size", type=positive_int, default=500, help="messages between retrain checks"
    )
    sub.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "models" and args.action == "activate" and not args.version:
        parser.error("models activate needs a VERSION")
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "__".join(str(part) for part in first["loc"]).upper()
        print(f"sieve: error: setting SIEVE_{where}: {first['msg']}", file=sys.stderr)
        return 2
    setup_logging(args.log_level or settings.log_level)
    log_effective_config(settings, logger)
    try:
        return int(args.handler(args, settings))
    except PermanentError as exc:
        print(f"sieve: error: {exc}", file=sys.stderr)
        return 2
    except (TransientError, SieveError) as exc:
        print(f"sieve: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The `sieve` command line. Each subcommand builds Settings, logs it, and calls a service."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError
from tqdm import tqdm

from sieve.core.errors import PermanentError, SieveError, TransientError
from sieve.core.logging import log_effective_config, setup_logging
from sieve.core.settings import Settings

logger = logging.getLogger("sieve")

Handler = Callable[[argparse.Namespace, Settings], int]


def _positive(kind: Callable[[str], float], noun: str) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` above 0, or a one-line error."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
        return value

    return parse


_positive_int = _positive(int, "a whole number")
_positive_float = _positive(float, "a number")


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from sieve.store import migrate

    migrate.upgrade(settings.database_url)
    print(f"database at revision {migrate.current(settings.database_url)}")
    return 0


def cmd_stream(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.wiring import serving_store, stream_worker
    from sieve.workers.metrics_http import serve_stream_metrics
    from sieve.workers.stream.loop import install_signal_handlers

    engine = serving_store(settings)
    serve_stream_metrics(settings.stream.metrics_port, engine)
    with stream_worker(settings, engine) as worker:
        install_signal_handlers(worker)
        stats = worker.run(max_messages=args.max_messages, idle_timeout_s=args.idle_timeout_s)
    logger.info("stream worker stopped: %s", stats)
    return 0


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.workers.kafka_adapter import ensure_topics, make_producer
    from sieve.workers.stream.produce import produce_lines, read_lines

    lines = read_lines(args.file)[: args.limit]
    topic = args.topic or settings.kafka.input_topic
    ensure_topics(settings.kafka.model_copy(update={"input_topic": topic}))
    producer = make_producer(settings.kafka, linger_ms=20)
    try:
        sent = produce_lines(
            producer, topic, lines, shuffle_seed=args.shuffle_seed, progress=sys.stderr.isatty()
        )
    finally:
        producer.close(timeout=10)
    print(f"produced {sent} messages to {topic}")
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.cli.train import train_and_register

    return train_and_register(args, settings)


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.store.repository import activate_model_version, list_model_versions
    from sieve.wiring import open_store

    engine = open_store(settings)
    if args.action == "activate":
        activate_model_version(engine, args.version, reason="activated from the CLI")
        print(f"{args.version} is active")
        return 0
    rows = list_model_versions(engine)
    if not rows:
        print("no model versions registered: train one with `sieve train --data FILE`")
    for record, active in rows:
        accuracy = record.metrics.get("accuracy")
        shown = f"{accuracy:.4f}" if isinstance(accuracy, float) else "-"
        print(f"{'*' if active else ' '} {record.version}  {record.status:<10} accuracy={shown}")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.bench == "classify":
        from sieve.bench import classify
        from sieve.wiring import open_registry

        family = args.family or settings.models.family
        # The machine's encoder cache: the MiniLM export happens once, not per benchmark.
        cache_dir = open_registry(settings).cache_dir
        classify.main(
            ["--data", str(args.data), "--family", family, "--cache-dir", str(cache_dir)]
            + (["--model", str(args.model)] if args.model else [])
        )
        return 0
    if args.bench == "llm":
        from sieve.bench import llm_path

        llm_path.main([])
        return 0
    if args.bench == "cascade":
        from sieve.bench import cascade

        return cascade.main(
            settings,
            data_dir=args.data_dir,
            families=cascade.names(args.families),
            variants=cascade.names(args.variants),
            chunk_size=args.chunk_size,
            out=args.out,
        )
    if args.bench == "teacher":
        from sieve.bench import teacher

        teacher.main([])
        return 0
    from sieve.bench import stream

    stream.main(settings, messages=args.messages, data=args.data)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    port = settings.celery.metrics_port
    with contextlib.ExitStack() as stack:
        if port:
            # Before anything imports prometheus_client: the pool processes then write
            # their values to files in this fresh directory, and this process serves the sum.
            metrics_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="sieve-metrics-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
            from sieve.workers.metrics_http import serve_worker_metrics

            serve_worker_metrics(port, metrics_dir)
        from sieve.wiring import serving_store
        from sieve.workers.llm.celery_app import app

        serving_store(settings).dispose()  # each pool process builds its own engine

        concurrency = args.concurrency or settings.celery.concurrency
        argv = ["worker", f"--concurrency={concurrency}", "-Q", settings.celery.queue]
        argv += [f"--loglevel={args.log_level or settings.log_level}", "--without-gossip"]
        app.worker_main(argv)
    return 0


def cmd_beat(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.workers.llm.celery_app import app

    schedule = settings.data_dir / "celerybeat-schedule"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.start(["beat", f"--loglevel={args.log_level or settings.log_level}", "-s", str(schedule)])
    return 0


def cmd_teacher_sim(args: argparse.Namespace, _settings: Settings) -> int:
    from sieve.labeler.sim.simulator import run_from_args

    return run_from_args(args)


def cmd_label_file(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.jobs import label_file

    return label_file(settings, args.file, chunk_size=args.chunk_size)


def cmd_gold_set(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.jobs import register_gold_set

    return register_gold_set(settings, args.file)


def cmd_requeue(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.jobs import requeue

    return requeue(settings, failed=not args.pending_only, stuck_after_s=args.stuck_after_s)


def cmd_costs(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.store.ledger import SpendGroup, spend_by
    from sieve.wiring import open_store

    rows = spend_by(open_store(settings), SpendGroup(args.by))
    print(f"{args.by:<24} {'requests':>8} {'tokens in':>12} {'tokens out':>12} {'cost USD':>10}")
    for row in rows:
        print(
            f"{row.group:<24} {row.requests:>8} {row.tokens_in:>12} {row.tokens_out:>12} "
            f"{row.cost_usd:>10.4f}"
        )
    return 0


def cmd_retrain(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.store.training import create_run
    from sieve.wiring import open_registry, open_store
    from sieve.workers.distill.retrain import request_retrain, run_retrain

    engine = open_store(settings)
    if not args.wait:
        run_id = request_retrain(settings, engine, trigger="cli")
        print(f"retraining run {run_id} queued; `sieve worker` runs it")
        return 0
    run_id = create_run(engine, trigger="cli")
    with tqdm(desc="retraining", unit="epoch", disable=not sys.stderr.isatty()) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        run = run_retrain(settings, engine, open_registry(settings), run_id, progress)
    print(f"run {run_id}: {run['status']}" + (f" ({run['error']})" if run["error"] else ""))
    if run["model_version"]:
        metrics = run["metrics"] or {}
        state = "promoted" if run["promoted"] else "not promoted"
        print(f"  {run['model_version']}: macro-F1 {metrics.get('macro_f1', 0):.4f}, {state}")
        print(f"  gate: {metrics.get('gate')}")
    return 0 if run["status"] == "succeeded" else 1


def cmd_admin(_args: argparse.Namespace, settings: Settings) -> int:
    from sieve.admin.server import serve

    serve(settings)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.demo.run import run_demo

    return run_demo(settings, data_dir=args.data_dir, limit=args.limit, chunk_size=args.chunk_size)


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
    sub.add_argument("--max-messages", type=_positive_int, help="stop after this many records")
    sub.add_argument(
        "--idle-timeout-s",
        type=_positive_float,
        help="stop after this many seconds without a message (counted once assigned)",
    )
    sub.set_defaults(handler=cmd_stream)

    sub = commands.add_parser("produce", help="publish a JSON Lines file to a topic, keyed by id")
    sub.add_argument("file", type=_existing_file, metavar="FILE.jsonl")
    sub.add_argument("--topic", help="topic (default: SIEVE_KAFKA__INPUT_TOPIC)")
    sub.add_argument("--limit", type=_positive_int, help="publish only the first N lines")
    sub.add_argument("--shuffle-seed", type=int, help="publish in a seeded random order")
    sub.set_defaults(handler=cmd_produce)

    sub = commands.add_parser("train", help="train a fast model from labeled JSON Lines")
    sub.add_argument("--data", type=_existing_file, required=True, metavar="FILE.jsonl")
    sub.add_argument("--eval", type=_existing_file, metavar="FILE.jsonl", help="print accuracy")
    sub.add_argument("--labels", type=_existing_file, help="label set, one per line")
    sub.add_argument("--epochs", type=_positive_int, help="training epochs")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_argument(
        "--no-activate", action="store_true", help="register the version without activating it"
    )
    sub.set_defaults(handler=cmd_train)

    sub = commands.add_parser("models", help="list model versions or activate one")
    sub.add_argument("action", nargs="?", choices=("list", "activate"), default="list")
    sub.add_argument("version", nargs="?")
    sub.set_defaults(handler=cmd_models)

    sub = commands.add_parser("bench", help="benchmarks that print figures")
    sub.add_argument("bench", choices=("classify", "stream", "llm", "teacher", "cascade"))
    sub.add_argument("--data", type=_existing_file, default=Path("data/banking77/train.jsonl"))
    sub.add_argument("--model", type=Path, help="artefact folder (classify; default: train one)")
    sub.add_argument(
        "--family",
        choices=("ngram", "minilm"),
        help="classify: student family to train (default: SIEVE_MODELS__FAMILY)",
    )
    sub.add_argument("--messages", type=_positive_int, default=10_000, help="stream: messages")
    sub.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data/banking77"),
        help="cascade: a folder with train.jsonl, test.jsonl and optionally labels.txt",
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
        "--chunk-size", type=_positive_int, default=500, help="cascade: messages per chunk"
    )
    sub.add_argument(
        "--out", type=Path, default=Path("bench/RESULTS.md"), help="cascade: results file"
    )
    sub.set_defaults(handler=cmd_bench)

    sub = commands.add_parser("worker", help="run a Celery worker (LLM labeling tasks)")
    sub.add_argument("--concurrency", type=_positive_int, help="worker processes")
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
    sub.add_argument("file", type=_existing_file, metavar="FILE.jsonl")
    sub.add_argument("--chunk-size", type=_positive_int, default=500, help="rows per chunk")
    sub.set_defaults(handler=cmd_label_file)

    sub = commands.add_parser(
        "gold-set",
        help="register human gold labels: evaluated on at every retraining, never trained",
    )
    sub.add_argument("file", type=_existing_file, metavar="FILE.jsonl")
    sub.set_defaults(handler=cmd_gold_set)

    sub = commands.add_parser("requeue", help="re-enqueue failed LLM labels and stuck escalations")
    sub.add_argument("--pending-only", action="store_true", help="only escalations never enqueued")
    sub.add_argument(
        "--stuck-after-s",
        type=_positive_float,
        metavar="S",
        help="also re-enqueue escalations enqueued more than S seconds ago and still unlabeled",
    )
    sub.set_defaults(handler=cmd_requeue)

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

    sub = commands.add_parser("demo", help="run the pipeline end to end on embedded defaults")
    sub.add_argument("--data-dir", type=Path, default=Path("data/banking77"))
    sub.add_argument("--limit", type=_positive_int, help="stream only the first N messages")
    sub.add_argument(
        "--chunk-size", type=_positive_int, default=500, help="messages between retrain checks"
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

"""The handlers of the `sieve` subcommands: each gets the parsed arguments and Settings,
builds what it needs through ``sieve.wiring`` and returns the exit status."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
from datetime import UTC, datetime

from tqdm import tqdm

from sieve.core.settings import Settings

logger = logging.getLogger("sieve")


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from sieve.store import migrate

    migrate.upgrade(settings.database_url)
    print(f"database at revision {migrate.current(settings.database_url)}")
    return 0


def cmd_stream(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.wiring import budget, serving_store, stream_worker
    from sieve.workers.metrics_http import serve_stream_metrics
    from sieve.workers.stream.loop import install_signal_handlers

    engine = serving_store(settings)
    limits = budget(settings, engine)
    serve_stream_metrics(
        settings.stream.metrics_port,
        engine,
        limits=lambda: [(state.name, state.spent, state.capacity) for state in limits.state()],
    )
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
        producer.close(timeout_s=10)
    print(f"produced {sent} messages to {topic}")
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.cli.train import train_and_register

    return train_and_register(args, settings)


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.store.versions import activate_model_version, list_model_versions
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
    if args.bench is None:
        return _speed_suite(args, settings)
    if args.bench in ("latency", "scale"):
        return _speed_suite(args, settings, parts=[args.bench])
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
    if args.bench == "bootstrap":
        from sieve.bench import bootstrap

        figures = bootstrap.main(
            settings,
            data_dir=args.data_dir,
            family=args.family or "ngram",
            per_label=args.per_label,
            stream_messages=args.stream_messages,
            chunk_size=args.chunk_size,
        )
        for figure in figures:
            print(figure.to_json())
        return 0
    if args.bench == "faults":
        from sieve.bench.faults import run as faults

        return faults.main(
            short=args.short,
            only=args.only,
            postgres_dsn=args.postgres,
            data_dir=args.data_dir,
            work_dir=settings.data_dir / "faults",
        )
    if args.bench == "prompts":
        from sieve.bench import prompts

        options = prompts.BenchOptions(data_dir=args.data_dir)
        if args.messages is not None:
            options = dataclasses.replace(options, messages=args.messages)
        prompts.run(settings, options)
        return 0
    if args.bench == "retrain":
        from sieve.bench import retrain

        figures = retrain.figures(
            args.data, labels=args.labels, store_url=args.store_url, settings=settings
        )
        print(
            "\n".join(f.to_json() for f in figures) if args.json else retrain.format_table(figures)
        )
        return 0
    if args.bench == "teacher":
        from sieve.bench import teacher

        teacher.main([])
        return 0
    from sieve.bench import stream

    stream.main(settings, messages=args.messages or 20_000, data=args.data)
    return 0


def _speed_suite(
    args: argparse.Namespace, settings: Settings, parts: list[str] | None = None
) -> int:
    """Figures as they are measured: a table line, or a JSON line with ``--json``."""
    from sieve.bench import results, suite
    from sieve.bench.figures import Figure, format_figures

    def emit(figure: Figure) -> None:
        print(figure.to_json() if args.json else format_figures([figure]), flush=True)

    chosen = parts or args.part or list(suite.PARTS)
    started, load = results.now(), results.load_average()
    measured = suite.run(
        settings,
        chosen,
        data_dir=args.data_dir,
        postgres_dsn=args.postgres,
        emit=emit,
        options={
            name: value
            for name, value in (
                ("rate", args.rate),
                ("seconds", args.seconds),
                ("messages", args.messages),
            )
            if value is not None
        },
    )
    if args.results is not None:
        results.rewrite(args.results, measured, started=started, load=load)
        print(f"wrote the speed section of {args.results}", file=sys.stderr)
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
    from sieve.store.escalations import EscalationStatus, count_escalations
    from sieve.store.ledger import SpendGroup, spend_by
    from sieve.wiring import budget, open_store

    engine = open_store(settings)
    rows = spend_by(engine, SpendGroup(args.by))
    print(f"{args.by:<24} {'requests':>8} {'tokens in':>12} {'tokens out':>12} {'cost USD':>10}")
    for row in rows:
        print(
            f"{row.group:<24} {row.requests:>8} {row.tokens_in:>12} {row.tokens_out:>12} "
            f"{row.cost_usd:>10.4f}"
        )
    print()
    for state in budget(settings, engine).state():
        renews = datetime.fromtimestamp(state.resets_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(
            f"limit {state.name}: {state.spent:g} used of {state.capacity:g}, "
            f"{state.remaining:g} left, renews {renews}"
        )
    deferred = count_escalations(engine, EscalationStatus.DEFERRED)
    print(f"escalations waiting (deferred): {deferred}")
    return 0


def cmd_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.cli.bootstrap import run_bootstrap

    return run_bootstrap(args, settings)


def cmd_pregenerate(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.cli.bootstrap import run_pregenerate

    return run_pregenerate(args, settings)


def cmd_retrain(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.store.training import RunStatus, RunTrigger, create_run
    from sieve.wiring import open_registry, open_store
    from sieve.workers.distill.retrain import request_retrain, run_retrain

    engine = open_store(settings)
    if not args.wait:
        run_id = request_retrain(settings, engine, trigger=RunTrigger.CLI)
        print(f"retraining run {run_id} queued; `sieve worker` runs it")
        return 0
    run_id = create_run(engine, trigger=RunTrigger.CLI)
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
    return 0 if run["status"] == RunStatus.SUCCEEDED else 1


def cmd_admin(_args: argparse.Namespace, settings: Settings) -> int:
    from sieve.admin.server import serve

    serve(settings)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.demo.run import run_demo

    return run_demo(settings, data_dir=args.data_dir, limit=args.limit, chunk_size=args.chunk_size)

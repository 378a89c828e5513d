"""`sieve bootstrap` (a first student from LLM-written examples) and `sieve pregenerate`
(warm the answer cache for frequent texts): progress bars on a TTY, a summary on stdout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

from sieve.core.settings import Settings
from sieve.jobs import pregenerate_answers
from sieve.labeler.prompts import load_prompt
from sieve.wiring import llm_client, open_registry, open_store
from sieve.workers.distill.bootstrap import bootstrap_student

Progress = Callable[[int, int], None]


@contextmanager
def _bar(desc: str, unit: str) -> Iterator[Progress]:
    with tqdm(desc=desc, unit=unit, disable=not sys.stderr.isatty()) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        yield progress


def run_bootstrap(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    client = llm_client(settings, engine)
    try:
        with _bar("generating", "label") as generating, _bar("training", "step") as training:
            result = bootstrap_student(
                settings,
                engine,
                open_registry(settings),
                client,
                per_label=args.per_label,
                seed=args.seed,
                verify=args.verify or None,
                generation_progress=generating,
                training_progress=training,
            )
    finally:
        client.close()
    report = result.generation
    dropped = ", ".join(f"{reason} {n}" for reason, n in report.dropped.items() if n) or "none"
    print(
        f"asked {report.labels} labels for {report.per_label} examples each: "
        f"{report.generated} generated, {report.kept} kept, dropped: {dropped}"
    )
    if report.unusable_answers:
        print(f"{report.unusable_answers} answers were not a messages list")
    if report.short_labels:
        shown = ", ".join(report.short_labels[:5]) + (
            " ..." if len(report.short_labels) > 5 else ""
        )
        print(f"{len(report.short_labels)} labels have fewer than {report.per_label}: {shown}")
    print(
        f"{result.stored} new synthetic examples stored; LLM calls {report.calls}, "
        f"tokens {report.tokens}, cost USD {report.cost_usd:.4f}"
    )
    if report.stopped:
        print(f"stopped early: {report.stopped}")
    run = result.run
    if run is None:
        print("no synthetic examples: no student trained")
        return 1
    if run["model_version"]:
        metrics = run["metrics"] or {}
        state = "active" if run["promoted"] else "not promoted"
        print(
            f"student {run['model_version']}: {metrics.get('training_labels')} training "
            f"examples, macro-F1 {metrics.get('macro_f1', 0):.4f} on held-out synthetic "
            f"examples, {state}"
        )
        return 0
    print(f"training run {run['id']}: {run['status']} ({run['error']})")
    return 1


def run_pregenerate(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    with _bar("pre-generating", "text") as progress:
        report = pregenerate_answers(
            settings,
            engine,
            limit=args.limit,
            min_count=args.min_count,
            prompt_name=args.prompt,
            progress=progress,
        )
    version = load_prompt(args.prompt or settings.llm.prompt).version_id
    print(
        f"{report.candidates} texts seen at least {args.min_count} times: "
        f"{report.already_cached} already answered ({version}), "
        f"{report.asked} asked, {report.cached} cached, {report.failed} failed, "
        f"{report.in_flight} in flight elsewhere; cost USD {report.cost_usd:.4f}"
    )
    print(f"stopped: {report.stopped}" if report.stopped else "every frequent text is answered")
    return 0

"""`sieve bench` without a name: the speed figures of the fast path, one part after another.

    sieve bench [--only PART ...] [--json] [--results bench/RESULTS.md]

Parts: classify (n-gram featurise + infer), stream (worker vs raw kafka-python), latency
(produce → label event at 1,000 msg/s), scale (one vs two workers on 4 partitions),
retrain (10,000 labels, n-gram) and llm (the Celery task path). Each part returns
``Figure``s; ``--json`` prints one JSON object per line, ``--results`` rewrites the speed
section of the results file with the machine, the date and the command of each figure.
The stream parts use the n-gram student whatever SIEVE_MODELS__FAMILY says: the figures
are the fast path's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sieve.bench.faults.suite import Suite
from sieve.bench.figures import Figure
from sieve.bench.results import now
from sieve.core.settings import Settings
from sieve.demo.broker import EmbeddedBroker

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """What the parts share: the data, the settings, and (made on first use) the
    embedded broker and the fault suite's student for the parts that run subprocesses."""

    settings: Settings
    data_dir: Path
    postgres_dsn: str
    work_dir: Path
    # The command line's --rate, --seconds, --messages where given; each part has defaults.
    options: dict[str, int] = field(default_factory=dict)
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def train_file(self) -> Path:
        return self.data_dir / "train.jsonl"

    @cached_property
    def suite(self) -> Suite:
        broker = self.stack.enter_context(EmbeddedBroker())
        return Suite(broker, self.postgres_dsn, self.data_dir.resolve(), self.work_dir.resolve())

    @property
    def ngram_settings(self) -> Settings:
        models = self.settings.models.model_copy(update={"family": "ngram"})
        return self.settings.model_copy(update={"models": models})


def _classify(context: Context) -> list[Figure]:
    from sieve.bench import classify

    return classify.figures(context.train_file)


def _stream(context: Context) -> list[Figure]:
    from sieve.bench import stream

    messages = context.options.get("messages", 20_000)
    return stream.figures(context.ngram_settings, messages=messages, data=context.train_file)


def _latency(context: Context) -> list[Figure]:
    from sieve.bench import latency

    options = context.options
    return latency.figures(
        context.suite, rate=options.get("rate", 1_000), seconds=options.get("seconds", 10)
    )


def _scale(context: Context) -> list[Figure]:
    from sieve.bench import scale

    return scale.figures(context.suite, messages=context.options.get("messages", 20_000))


def _retrain(context: Context) -> list[Figure]:
    from sieve.bench import retrain

    return retrain.figures(context.train_file, settings=context.ngram_settings)


def _llm(context: Context) -> list[Figure]:
    from sieve.bench import llm_path

    data = context.data_dir
    return llm_path.overhead_figures(data / "test.jsonl", data / "labels.txt")


PARTS: dict[str, Callable[[Context], list[Figure]]] = {
    "classify": _classify,
    "stream": _stream,
    "latency": _latency,
    "scale": _scale,
    "retrain": _retrain,
    "llm": _llm,
}


@contextlib.contextmanager
def context(
    settings: Settings, data_dir: Path, postgres_dsn: str, options: dict[str, int]
) -> Iterator[Context]:
    with tempfile.TemporaryDirectory(prefix="sieve-bench-suite-") as tmp:
        made = Context(settings, data_dir, postgres_dsn, Path(tmp), options)
        with made.stack:
            yield made


def run(
    settings: Settings,
    parts: list[str],
    *,
    data_dir: Path,
    postgres_dsn: str,
    emit: Callable[[Figure], None],
    options: dict[str, int] | None = None,
) -> list[Figure]:
    """Run ``parts`` in order, handing each figure to ``emit`` as soon as it is measured."""
    unknown = [name for name in parts if name not in PARTS]
    if unknown:
        raise ValueError(f"unknown benchmark parts {unknown}; known: {', '.join(PARTS)}")
    measured: list[Figure] = []
    with context(settings, data_dir, postgres_dsn, options or {}) as made:
        for name in parts:
            logger.info("benchmark part %s", name)
            for measured_figure in PARTS[name](made):
                figure = dataclasses.replace(measured_figure, measured_at=f"{now():%Y-%m-%d %H:%M}")
                emit(figure)
                measured.append(figure)
    return measured

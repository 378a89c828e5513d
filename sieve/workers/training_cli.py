"""`sieve train`: train a fast model from a labeled file, register it, activate it."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from sieve.core.settings import Settings
from sieve.models.dataset import read_label_set
from sieve.models.registry import ArtefactInfo
from sieve.models.train_file import train_family_file
from sieve.store.repository import (
    ModelVersionRecord,
    activate_model_version,
    register_model_version,
)
from sieve.workers.runtime import open_registry, open_store


def register(settings: Settings, info: ArtefactInfo, *, activate: bool, reason: str) -> None:
    engine = open_store(settings)
    try:
        register_model_version(
            engine,
            ModelVersionRecord(
                version=info.version,
                family=info.meta.get("family", settings.models.family),
                path=str(info.path.resolve()),
                data_hash=info.meta["data_hash"],
                metrics=info.meta.get("metrics", {}),
            ),
        )
        if activate:
            activate_model_version(engine, info.version, reason=reason)
    finally:
        engine.dispose()


def train_and_register(args: argparse.Namespace, settings: Settings) -> int:
    """Train a model of the family ``SIEVE_MODELS__FAMILY`` names."""
    registry = open_registry(settings)
    options = registry.train_options(
        seed=args.seed, epochs=args.epochs or None, num_threads=settings.models.train_threads
    )
    label_set = read_label_set(args.labels) if args.labels else None
    with tqdm(desc="training", unit="step", disable=not sys.stderr.isatty()) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        info, metrics = train_family_file(
            args.data,
            registry,
            settings.models.family,
            options,
            eval_path=args.eval,
            label_set=label_set,
            progress=progress,
        )
    register(settings, info, activate=not args.no_activate, reason=f"trained on {args.data}")
    print(f"model version {info.version} saved in {info.path}")
    if metrics is not None:
        print(f"accuracy on {args.eval}: {metrics.accuracy:.4f}  macro-F1: {metrics.macro_f1:.4f}")
    print("active" if not args.no_activate else "registered, not active")
    return 0

"""`sieve train`: train a fast model from a labeled file, register it, activate it."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from sieve.core.dataset import read_label_set
from sieve.core.settings import Settings
from sieve.models.train_file import train_family_file
from sieve.wiring import open_registry, register_trained


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
    register_trained(
        settings, info, activate=not args.no_activate, reason=f"trained on {args.data}"
    )
    print(f"model version {info.version} saved in {info.path}")
    if metrics is not None:
        print(f"accuracy on {args.eval}: {metrics.accuracy:.4f}  macro-F1: {metrics.macro_f1:.4f}")
    print("active" if not args.no_activate else "registered, not active")
    return 0

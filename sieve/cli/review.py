"""`sieve review export|import`: the human review queue as a file, and its labels back."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sieve.cli.args import existing_file, positive_int
from sieve.core.review_files import ReviewFormat
from sieve.core.settings import Settings


def add_review_command(commands: Any) -> None:
    """Register `sieve review` on the subparsers ``commands``."""
    sub = commands.add_parser(
        "review", help="human review: export the queue to a file, import the labels given"
    )
    actions = sub.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export", help="write the review queue (disagreements first, newest first)"
    )
    export.add_argument("--format", choices=[str(f) for f in ReviewFormat], default="jsonl")
    export.add_argument("--out", type=Path, required=True, metavar="FILE")
    export.add_argument("--limit", type=positive_int, help="at most N items")
    export.set_defaults(handler=cmd_review_export)
    imported = actions.add_parser(
        "import",
        help="human labels from a review file (CSV or JSON Lines with id, label): they join "
        "the gold set and override LLM labels in training",
    )
    imported.add_argument("file", type=existing_file, metavar="FILE")
    imported.set_defaults(handler=cmd_review_import)


def cmd_review_export(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.jobs import export_review

    return export_review(settings, args.out, ReviewFormat(args.format), args.limit)


def cmd_review_import(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.jobs import import_review

    return import_review(settings, args.file)

"""`sieve rules check FILE`: validate a routing rules file against the label set and print
its rules in the order they are checked (README, "Rules")."""

from __future__ import annotations

import argparse

from sieve.core.settings import Settings


def cmd_rules(args: argparse.Namespace, settings: Settings) -> int:
    from sieve.routing.rules_file import describe, load_rules
    from sieve.workers.label_set import deployment_label_set

    labels_file = args.labels or settings.labels_file
    rules = load_rules(args.file, deployment_label_set(labels_file))
    print(f"{args.file}: {len(rules)} rules, checked in this order against {labels_file}")
    for number, rule in enumerate(rules.rules, start=1):
        print(f"{number:>3}. {describe(rule)}  [reason {rule.stored_reason}]")
    return 0

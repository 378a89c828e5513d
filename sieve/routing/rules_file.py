"""The rules file (``SIEVE_ROUTING__RULES_FILE``): YAML or JSON, read and validated once at
start-up, so a mistake stops the worker with one line naming the file, the rule and the
problem instead of misrouting traffic. The format (a bare list of rules is accepted too)::

    rules:
      - name: refund-keywords          # letters, digits, . _ -; at most 27 characters
        keywords: [refund, chargeback, money back]
        action: escalate
      - name: lost-card
        regex: '\\b(lost|stolen)\\b.*\\bcard\\b'
        action: label
        label: lost_or_stolen_card     # must be in the deployment's label set
      - name: too-short
        min_chars: 8                   # shorter than 8 characters
        action: escalate

``action`` may be left out when ``label`` is given. See ``rules.py`` for what matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from sieve.core.errors import ConfigError
from sieve.routing.rules import (
    MAX_RULE_NAME_CHARS,
    Rule,
    RuleAction,
    RuleSet,
    keyword_pattern,
)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Each kind of matcher and the keys that make it.
_MATCHERS = {"regex": ("regex",), "keywords": ("keywords",), "length": ("min_chars", "max_chars")}
_KEYS = {"name", "description", "regex", "keywords", "min_chars", "max_chars", "action", "label"}


def load_rules(path: Path, labels: Collection[str]) -> RuleSet:
    """The rules of the file at ``path``, checked against the label set ``labels``.
    ConfigError (one line, naming the file) for anything wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"rules file {path}: cannot read it: {exc}") from exc
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"rules file {path}: not valid YAML/JSON: {first_line}") from exc
    return parse_rules(document, labels, source=str(path))


def parse_rules(document: Any, labels: Collection[str], *, source: str = "rules") -> RuleSet:
    """Validate a loaded document: ``{"rules": [...]}``, a bare list, or nothing (no rules)."""
    if document is None:
        return RuleSet()
    if isinstance(document, Mapping):
        extra = sorted(set(document) - {"rules"})
        if extra:
            raise ConfigError(f"rules file {source}: unknown top-level key {extra[0]!r}")
        document = document.get("rules") or []
    if not isinstance(document, list):
        raise ConfigError(f"rules file {source}: expected a list of rules under 'rules'")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, entry in enumerate(document, start=1):
        rule = _parse_rule(entry, index, set(labels), source)
        if rule.name in seen:
            raise ConfigError(f"rules file {source}: rule {index}: duplicate name {rule.name!r}")
        seen.add(rule.name)
        rules.append(rule)
    return RuleSet(tuple(rules))


def _parse_rule(entry: Any, index: int, labels: set[str], source: str) -> Rule:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"rules file {source}: rule {index}: not a mapping")
    name = entry.get("name")
    where = f"rules file {source}: rule {index} ({name!r})"
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"{where}: 'name' must be letters, digits, '.', '_' or '-'")
    if len(name) > MAX_RULE_NAME_CHARS:
        raise ConfigError(f"{where}: name longer than {MAX_RULE_NAME_CHARS} characters")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}")
    try:
        action, label = _action(entry, labels)
        fields = _matcher(entry)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return Rule(name=name, action=action, label=label, **fields)


def _action(entry: Mapping[str, Any], labels: set[str]) -> tuple[RuleAction, str | None]:
    raw = entry.get("action", RuleAction.LABEL if "label" in entry else None)
    if raw is None:
        raise ValueError("no action (escalate, or label with 'label: <label>')")
    try:
        action = RuleAction(raw)
    except ValueError:
        raise ValueError(f"unknown action {raw!r} (escalate or label)") from None
    label = entry.get("label")
    if action is RuleAction.ESCALATE:
        if label is not None:
            raise ValueError("'label' given with action escalate")
        return action, None
    if not isinstance(label, str) or not label:
        raise ValueError("action label needs 'label: <label>'")
    if label not in labels:
        raise ValueError(f"label {label!r} is not in the label set")
    return action, label


def _matcher(entry: Mapping[str, Any]) -> dict[str, Any]:
    present = [kind for kind, keys in _MATCHERS.items() if any(key in entry for key in keys)]
    if len(present) != 1:
        found = ", ".join(present) or "none"
        raise ValueError(f"needs exactly one of regex, keywords, min_chars/max_chars (has {found})")
    if present[0] == "regex":
        pattern = entry["regex"]
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("'regex' must be a non-empty string")
        try:
            return {"pattern": re.compile(pattern, re.IGNORECASE)}
        except re.error as exc:
            raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    if present[0] == "keywords":
        keywords = entry["keywords"]
        if (
            not isinstance(keywords, list)
            or not keywords
            or not all(isinstance(word, str) and word.strip() for word in keywords)
        ):
            raise ValueError("'keywords' must be a non-empty list of non-blank strings")
        return {"pattern": keyword_pattern(keywords), "keywords": tuple(keywords)}
    bounds = {key: entry.get(key) for key in ("min_chars", "max_chars")}
    for key, value in bounds.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"'{key}' must be a whole number")
        if value is not None and value < 1:
            raise ValueError(f"'{key}' must be at least 1")
    low, high = bounds["min_chars"], bounds["max_chars"]
    if low is not None and high is not None and low > high:
        raise ValueError("'min_chars' is above 'max_chars'")
    return bounds


def describe(rule: Rule) -> str:
    """One line for ``sieve rules check``: what matches, and what happens."""
    if rule.keywords:
        matcher = "has any of the words " + ", ".join(repr(word) for word in rule.keywords)
    elif rule.pattern is not None:
        matcher = f"matches /{rule.pattern.pattern}/i"
    else:
        parts = []
        if rule.min_chars is not None:
            parts.append(f"shorter than {rule.min_chars}")
        if rule.max_chars is not None:
            parts.append(f"longer than {rule.max_chars}")
        matcher = " or ".join(parts) + " characters"
    then = "escalate" if rule.action is RuleAction.ESCALATE else f"label {rule.label}"
    return f"{rule.name}: {matcher} -> {then}"

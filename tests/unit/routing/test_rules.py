"""Routing rules: the file's validation (one line naming file, rule and problem), and what
each kind of rule matches, first match winning."""

from __future__ import annotations

import json

import pytest

from sieve.core.errors import ConfigError
from sieve.routing.policy import Reason, Route, decide_by_rule
from sieve.routing.rules import RuleAction, RuleSet, rule_name_of
from sieve.routing.rules_file import describe, load_rules, parse_rules

LABELS = ["card_arrival", "lost_or_stolen_card", "request_refund"]


def rules(*entries: dict) -> RuleSet:
    return parse_rules({"rules": list(entries)}, LABELS, source="r.yaml")


def escalate(name: str, **matcher) -> dict:
    return {"name": name, "action": "escalate", **matcher}


@pytest.mark.parametrize(
    ("keywords", "text", "matches"),
    [
        (["refund"], "I want a REFUND now", True),  # case-insensitive
        (["refund"], "refund.", True),  # punctuation is a word boundary
        (["refund"], "refunds please", False),  # whole words only
        (["refund"], "nonrefundable fee", False),
        (["money back"], "give my money   back", True),  # any whitespace in a phrase
        (["money back"], "money is back", False),
        (["c++", "top-up"], "my top-up failed", True),  # special characters are literal
        (["c++", "top-up"], "topup failed", False),
        (["été"], "un été chaud", True),  # unicode words
    ],
)
def test_keywords_match_whole_words_in_any_case(keywords, text, matches):
    ruleset = rules(escalate("k", keywords=keywords))
    assert (ruleset.first_match(text) is not None) is matches


@pytest.mark.parametrize(
    ("matcher", "text", "matches"),
    [
        ({"regex": r"\bcard\b.*\barrive"}, "When will my Card ARRIVE?", True),
        ({"regex": r"\bcard\b.*\barrive"}, "my cards arrive", False),
        ({"regex": r"^\d+$"}, "12345", True),
        ({"min_chars": 5}, "abcd", True),  # shorter than the minimum
        ({"min_chars": 5}, "abcde", False),
        ({"max_chars": 5}, "abcdef", True),  # longer than the maximum
        ({"max_chars": 5}, "abcde", False),
        ({"min_chars": 3, "max_chars": 5}, "ab", True),
        ({"min_chars": 3, "max_chars": 5}, "abcd", False),
        ({"min_chars": 3, "max_chars": 5}, "abcdef", True),
    ],
)
def test_regex_and_length_rules(matcher, text, matches):
    assert (rules(escalate("m", **matcher)).first_match(text) is not None) is matches


def test_first_matching_rule_in_file_order_decides():
    ruleset = rules(
        escalate("fraud", keywords=["fraud"]),
        {"name": "stolen", "regex": "stolen", "label": "lost_or_stolen_card"},
        escalate("short", min_chars=10),
    )
    assert ruleset.first_match("stolen card, fraud!").name == "fraud"
    assert ruleset.first_match("stolen").name == "stolen"  # also short: the earlier wins
    assert ruleset.first_match("tiny").name == "short"
    assert ruleset.first_match("nothing to see here") is None


def test_decisions_of_rules_name_the_rule():
    ruleset = rules(
        escalate("fraud", keywords=["fraud"]),
        {"name": "stolen", "regex": "stolen", "action": "label", "label": "lost_or_stolen_card"},
    )
    forced = decide_by_rule(ruleset, "it was stolen")
    assert forced is not None
    assert (forced.route, forced.reason, forced.label, forced.stored_reason) == (
        Route.ACCEPT,
        Reason.RULE,
        "lost_or_stolen_card",
        "rule:stolen",
    )
    escalated = decide_by_rule(ruleset, "this is fraud")
    assert escalated is not None
    assert (escalated.route, escalated.label, escalated.stored_reason) == (
        Route.ESCALATE,
        None,
        "rule:fraud",
    )
    assert decide_by_rule(ruleset, "hello") is None
    assert rule_name_of("rule:fraud") == "fraud" and rule_name_of("confident") is None


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (escalate("bad", regex="(unclosed"), "rule 1 ('bad'): bad regex '(unclosed'"),
        ({"name": "x", "regex": "a", "label": "no_such_label"}, "label 'no_such_label' is not"),
        ({"name": "x", "regex": "a", "action": "drop"}, "unknown action 'drop'"),
        ({"name": "x", "regex": "a"}, "no action"),
        ({"name": "x", "regex": "a", "action": "label"}, "action label needs 'label: <label>'"),
        (escalate("x", regex="a", label="card_arrival"), "'label' given with action escalate"),
        ({"regex": "a", "action": "escalate"}, "rule 1 (None): 'name' must be"),
        (escalate("has space", regex="a"), "'name' must be"),
        (escalate("x" * 28, regex="a"), "name longer than 27 characters"),
        (escalate("x"), "needs exactly one of regex, keywords, min_chars/max_chars (has none)"),
        (escalate("x", regex="a", keywords=["b"]), "(has regex, keywords)"),
        (escalate("x", keywords=[]), "'keywords' must be a non-empty list"),
        (escalate("x", keywords="refund"), "'keywords' must be a non-empty list"),
        (escalate("x", keywords=["ok", " "]), "non-blank strings"),
        (escalate("x", min_chars="5"), "'min_chars' must be a whole number"),
        (escalate("x", max_chars=0), "'max_chars' must be at least 1"),
        (escalate("x", min_chars=9, max_chars=3), "'min_chars' is above 'max_chars'"),
        (escalate("x", regex="a", keyword=["typo"]), "unknown key 'keyword'"),
        ("just a string", "rule 1: not a mapping"),
    ],
)
def test_bad_rules_are_refused_with_the_file_rule_and_problem(entry, problem):
    with pytest.raises(ConfigError) as refused:
        parse_rules({"rules": [entry]}, LABELS, source="r.yaml")
    message = str(refused.value)
    assert message.startswith("rules file r.yaml: ")
    assert problem in message
    assert "\n" not in message


def test_duplicate_names_and_bad_documents_are_refused():
    with pytest.raises(ConfigError, match="rule 2: duplicate name 'a'"):
        rules(escalate("a", regex="x"), escalate("a", regex="y"))
    with pytest.raises(ConfigError, match="unknown top-level key 'rule'"):
        parse_rules({"rule": []}, LABELS)
    with pytest.raises(ConfigError, match="expected a list of rules"):
        parse_rules({"rules": {"name": "a"}}, LABELS)
    assert len(parse_rules(None, LABELS)) == 0  # an empty file: no rules
    assert len(parse_rules([escalate("a", regex="x")], LABELS)) == 1  # a bare list


def test_yaml_and_json_files_load_alike(tmp_path):
    yaml_file = tmp_path / "rules.yaml"
    yaml_file.write_text(
        "rules:\n"
        "  - name: refund-words\n"
        "    keywords: [refund, money back]\n"
        "    action: escalate\n"
        "  - name: stolen\n"
        "    regex: '\\bstolen\\b'\n"
        "    label: lost_or_stolen_card\n"
    )
    json_file = tmp_path / "rules.json"
    json_file.write_text(
        json.dumps(
            {
                "rules": [
                    escalate("refund-words", keywords=["refund", "money back"]),
                    {"name": "stolen", "regex": r"\bstolen\b", "label": "lost_or_stolen_card"},
                ]
            }
        )
    )
    for path in (yaml_file, json_file):
        loaded = load_rules(path, LABELS)
        assert [(r.name, r.action, r.label) for r in loaded.rules] == [
            ("refund-words", RuleAction.ESCALATE, None),
            ("stolen", RuleAction.LABEL, "lost_or_stolen_card"),
        ]
        assert loaded.first_match("card STOLEN yesterday").name == "stolen"
    assert describe(load_rules(yaml_file, LABELS).rules[0]) == (
        "refund-words: has any of the words 'refund', 'money back' -> escalate"
    )


def test_unreadable_and_unparsable_files_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"rules file .*missing.yaml: cannot read it"):
        load_rules(tmp_path / "missing.yaml", LABELS)
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n  - name: a\n")
    with pytest.raises(ConfigError, match="not valid YAML/JSON") as refused:
        load_rules(broken, LABELS)
    assert "\n" not in str(refused.value)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{'rules': []}")
    with pytest.raises(ConfigError, match=r"bad\.json: not valid YAML/JSON"):
        load_rules(bad_json, LABELS)


def test_the_example_rules_file_is_valid(banking77):
    from pathlib import Path

    from sieve.core.dataset import read_label_set

    example = Path(__file__).resolve().parents[3] / "examples" / "rules.yaml"
    loaded = load_rules(example, read_label_set(banking77 / "labels.txt"))
    assert [r.name for r in loaded.rules] == [
        "fraud-legal",
        "stolen-card",
        "too-short",
        "very-long",
    ]

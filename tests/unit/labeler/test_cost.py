from __future__ import annotations

import pytest

from sieve.labeler.cost import DEFAULT_PRICES, ModelPrice, cost_usd, parse_prices, price_for

PRICES = {"big": ModelPrice(2.0, 8.0), "big-mini": ModelPrice(0.5, 1.0)}


def test_cost_is_per_million_tokens_in_and_out() -> None:
    assert cost_usd("big", 1_000_000, 0, PRICES) == pytest.approx(2.0)
    assert cost_usd("big", 250_000, 500_000, PRICES) == pytest.approx(0.5 + 4.0)


def test_dated_snapshots_use_the_longest_matching_entry() -> None:
    assert price_for("big-mini-2025-01-01", PRICES) == ModelPrice(0.5, 1.0)
    assert price_for("big-2025-01-01", PRICES) == ModelPrice(2.0, 8.0)
    assert price_for("bigger", PRICES) == ModelPrice(0.0, 0.0)


def test_unknown_models_and_the_simulator_are_free() -> None:
    assert cost_usd("llama3:8b", 10_000, 10_000, PRICES) == 0.0
    assert cost_usd("teacher-sim", 10_000, 10_000, DEFAULT_PRICES) == 0.0
    assert cost_usd("gpt-4o-mini", 1_000_000, 1_000_000, DEFAULT_PRICES) > 0


def test_price_tables_from_settings() -> None:
    table = parse_prices({"a": {"input_usd_per_1m": 1, "output_usd_per_1m": 2.5}, "b": [0.1, 0.2]})
    assert table == {"a": ModelPrice(1.0, 2.5), "b": ModelPrice(0.1, 0.2)}
    for bad in ({"a": {"input_usd_per_1m": 1}}, {"a": [1]}, {"a": [-1, 2]}, {"a": "cheap"}):
        with pytest.raises(ValueError):
            parse_prices(bad)

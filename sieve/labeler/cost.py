"""Cost of LLM calls from token counts and a price table (USD per million tokens).

The table comes from settings; ``DEFAULT_PRICES`` only covers the simulator and a few
common hosted models as a starting point — check your provider's price list. A model
missing from the table costs 0 (and is logged once), so self-hosted endpoints need no
entry. Dated snapshots (``gpt-4o-mini-2024-07-18``) match their base name's entry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

_TOKENS_PER_PRICE_UNIT = 1_000_000


@dataclass(frozen=True)
class ModelPrice:
    input_usd_per_1m: float
    output_usd_per_1m: float


PriceTable = Mapping[str, ModelPrice]

FREE = ModelPrice(0.0, 0.0)

DEFAULT_PRICES: PriceTable = {
    "teacher-sim": FREE,
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
}

_warned: set[str] = set()


def price_for(model: str, prices: PriceTable) -> ModelPrice:
    """Exact entry, else the longest entry that ``model`` extends with ``-...``, else free."""
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(name + "-")]
    if prefixes:
        return prices[max(prefixes, key=len)]
    if model not in _warned:
        _warned.add(model)
        logger.warning("no price for model %r: its calls are counted as free", model)
    return FREE


def cost_usd(model: str, tokens_in: int, tokens_out: int, prices: PriceTable) -> float:
    price = price_for(model, prices)
    return (
        tokens_in * price.input_usd_per_1m + tokens_out * price.output_usd_per_1m
    ) / _TOKENS_PER_PRICE_UNIT


def parse_prices(document: Mapping[str, Any]) -> dict[str, ModelPrice]:
    """A price table from settings: ``{"model": {"input_usd_per_1m": x, "output_usd_per_1m": y}}``.

    A two-number list ``[input, output]`` is accepted too. Raises ValueError otherwise.
    """
    table: dict[str, ModelPrice] = {}
    for model, entry in document.items():
        if isinstance(entry, Mapping):
            values = (entry.get("input_usd_per_1m"), entry.get("output_usd_per_1m"))
        elif isinstance(entry, list | tuple) and len(entry) == 2:
            values = (entry[0], entry[1])
        else:
            raise ValueError(
                f"price of {model!r}: expected {{input_usd_per_1m, output_usd_per_1m}}"
            )
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values
        ):
            raise ValueError(f"price of {model!r}: prices must be numbers >= 0")
        table[str(model)] = ModelPrice(float(values[0]), float(values[1]))  # type: ignore[arg-type]
    return table

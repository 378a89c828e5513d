"""argparse types that turn a bad value into a one-line error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def positive(kind: Callable[[str], float], noun: str) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` above 0, or a one-line error."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
        return value

    return parse


positive_int = positive(int, "a whole number")
positive_float = positive(float, "a number")


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path

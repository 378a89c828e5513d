"""`sieve produce`: publish a JSON Lines file to a topic, keyed by each line's id."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from sieve.core.errors import KafkaUnavailable, PermanentError, RecordTooLarge, TransientError
from sieve.workers.records import RecordProducer


def read_lines(path: Path) -> list[bytes]:
    try:
        with path.open("rb") as handle:
            return [line.rstrip(b"\r\n") for line in handle if line.strip()]
    except OSError as exc:
        raise PermanentError(f"cannot read {path}: {exc.strerror}") from exc


def key_of(line: bytes) -> bytes | None:
    """The line's id as the record key; a line that is not a JSON object is sent unkeyed
    (the stream worker will dead-letter it with the reason)."""
    try:
        document = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(document, dict) and isinstance(document.get("id"), str):
        return document["id"].encode()
    return None


def ordered(lines: list[bytes], seed: int | None) -> Iterator[bytes]:
    if seed is None:
        return iter(lines)
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    return iter(shuffled)


def produce_lines(
    producer: RecordProducer,
    topic: str,
    lines: list[bytes],
    *,
    shuffle_seed: int | None = None,
    progress: bool = False,
) -> int:
    """Send every line, flush, and check each send; returns the number sent."""
    futures = []
    try:
        for line in tqdm(
            ordered(lines, shuffle_seed), total=len(lines), disable=not progress, unit="msg"
        ):
            futures.append(producer.send(topic, key=key_of(line), value=line))
        producer.flush()
        for future in futures:
            future.get(timeout_s=0)
    except (KafkaUnavailable, RecordTooLarge) as exc:
        raise TransientError(f"producing to {topic} failed: {exc}") from exc
    return len(futures)

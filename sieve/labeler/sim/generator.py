"""The teacher simulator as a *writer*: what it answers to a generation prompt
(``sieve.labeler.generation``) asking for ``count`` messages about a label.

No model writes here, so the simulator returns texts of that label drawn from a pool of
labeled texts, which stand in for an LLM's paraphrases. To keep a bootstrap measurement
honest, the pool must not hold the messages the run then streams: benchmarks build it
from the *train* split and stream the *test* split, and drop from the pool every text
whose normalised form is in ``exclude`` (the stream). The student trained on the pool
has then seen texts like the stream's, never the stream's own.

Like a real LLM it is imperfect, so the bootstrap's validation has work to do:

- ``off_label_rate`` of the outputs are texts of *another* label (an LLM drifting to a
  neighbouring topic); they also collide with that label's own examples;
- ``duplicate_rate`` of the outputs repeat an earlier output of the same answer in upper
  case with doubled spaces (equal after normalisation).

Draws are hashes of (seed, label, batch, position): the same request, the same answer.
Each batch of a label draws afresh from its pool, so a later batch may repeat texts of an
earlier one, as an LLM asked again repeats itself (the bootstrap's dedup drops them); a
pool smaller than ``count`` answers with fewer texts.
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from sieve.core.dataset import LabeledText, read_labeled_jsonl
from sieve.labeler.cache import normalise_text
from sieve.labeler.sim.noise import unit_interval


class ExampleGenerator:
    def __init__(
        self,
        records: Sequence[LabeledText],
        *,
        off_label_rate: float = 0.1,
        duplicate_rate: float = 0.05,
        exclude: Iterable[str] = (),
    ) -> None:
        if not 0.0 <= off_label_rate + duplicate_rate <= 1.0:
            raise ValueError("off_label_rate + duplicate_rate must be within [0, 1]")
        self.off_label_rate = off_label_rate
        self.duplicate_rate = duplicate_rate
        excluded = {normalise_text(text) for text in exclude}
        pool: dict[str, set[str]] = defaultdict(set)
        for record in records:
            text = record.text.strip()
            if text and normalise_text(text) not in excluded:
                pool[record.label].add(text)
        self.pool = {label: sorted(texts) for label, texts in sorted(pool.items())}
        self.labels = tuple(self.pool)

    def examples(self, label: str, count: int, *, seed: int, batch: int = 1) -> list[str]:
        """The simulated answer to "write ``count`` messages about ``label``"."""
        own = self._order(label, seed, batch)
        if not own or count <= 0:
            return []
        fresh = iter(own[:count])
        out: list[str] = []
        for position in range(count):
            draw = unit_interval(seed, "generate", label, batch, position)
            if draw < self.off_label_rate and len(self.labels) > 1:
                out.append(self._other_label_text(label, seed, batch, position))
            elif draw < self.off_label_rate + self.duplicate_rate and out:
                pick = int(unit_interval(seed, "duplicate", label, batch, position) * len(out))
                out.append("  ".join(out[pick].upper().split()))
            else:
                text = next(fresh, None)
                if text is None:
                    break
                out.append(text)
        return out

    def _order(self, label: str, seed: int, batch: int) -> list[str]:
        texts = list(self.pool.get(label, ()))
        random.Random(f"{seed}:{label}:{batch}").shuffle(texts)
        return texts

    def _other_label_text(self, label: str, seed: int, batch: int, position: int) -> str:
        others = [other for other in self.labels if other != label]
        other = others[int(unit_interval(seed, "off-label", label, batch, position) * len(others))]
        texts = self.pool[other]
        return texts[int(unit_interval(seed, "off-text", label, batch, position) * len(texts))]


def add_generator_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sieve teacher-sim`` options of the generator mode."""
    parser.add_argument(
        "--generate-from",
        type=Path,
        action="append",
        default=[],
        metavar="FILE.jsonl",
        help="answer generation prompts with texts of the asked label from these files "
        "(e.g. the train split; never the file you stream)",
    )
    parser.add_argument(
        "--generate-exclude",
        type=Path,
        action="append",
        default=[],
        metavar="FILE.jsonl",
        help="never return a text of these files (the stream) as a generated example",
    )
    parser.add_argument(
        "--off-label-rate", type=float, default=0.1, help="generated texts of another label"
    )
    parser.add_argument(
        "--duplicate-rate", type=float, default=0.05, help="generated repeats of a text"
    )


def generator_from_args(args: argparse.Namespace) -> ExampleGenerator | None:
    if not args.generate_from:
        return None
    return ExampleGenerator(
        [record for path in args.generate_from for record in read_labeled_jsonl(path)],
        off_label_rate=args.off_label_rate,
        duplicate_rate=args.duplicate_rate,
        exclude=[r.text for path in args.generate_exclude for r in read_labeled_jsonl(path)],
    )

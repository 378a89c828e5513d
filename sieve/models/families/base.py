"""What a student family provides: train, export into an artefact folder, load, describe.

The registry, retraining, the model watcher and the CLIs see only these Protocols; which
family is used comes from meta.json's ``family`` when loading and from the setting
``SIEVE_MODELS__FAMILY`` when training. Serving code imports no training dependency: a
family module loads torch (or anything heavy) only inside ``train``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sieve.models.classifier import OnnxClassifier

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainOptions:
    """Family-independent training options; each family maps them onto its own config."""

    seed: int = 0
    # None: the family's default.
    epochs: int | None = None
    # Where a family may keep derived files shared by every version (an exported encoder,
    # embeddings of texts seen before). None: the family keeps nothing between runs.
    cache_dir: Path | None = None
    # Threads for training and for any inference training needs.
    num_threads: int = 1


class TrainedStudent(Protocol):
    """A trained model, before export: what the registry saves and retraining calibrates."""

    labels: tuple[str, ...]

    @property
    def family(self) -> str:
        """The family's name, stored as meta.json's ``family``."""
        ...

    def config(self) -> dict[str, Any]:
        """The training configuration, stored as meta.json's ``train_config``."""
        ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), len(labels)], as the exported graph will serve them."""
        ...

    def export(self, folder: Path) -> dict[str, Any]:
        """Write ``model.onnx`` (and any file the family's loader needs) into ``folder``;
        return the entries it adds to meta.json."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray | None:
        """L2-normalised sentence embeddings float32 [len(texts), D] (the space the
        served similarity is measured in), or None for a family without one."""
        ...


class StudentFamily(Protocol):
    name: str

    def train(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        label_set: Sequence[str],
        options: TrainOptions,
        progress: Progress | None = None,
    ) -> TrainedStudent: ...

    def load(
        self, artefact_dir: Path, meta: dict[str, Any], *, intra_op_num_threads: int
    ) -> OnnxClassifier: ...

    def describe(self, meta: dict[str, Any]) -> str:
        """One line for people: what this artefact is."""
        ...

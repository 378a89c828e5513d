"""Student families by name, and the loader that picks one from an artefact's meta.json.

A family module is imported only when it is asked for, so choosing ``ngram`` never loads
the MiniLM code and neither loads torch until it trains.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from pathlib import Path
from typing import Any

from sieve.core.errors import ConfigError, PermanentError
from sieve.models.classifier import META_FILE, OnnxClassifier, read_json
from sieve.models.families.base import StudentFamily, TrainedStudent, TrainOptions

__all__ = [
    "Family",
    "StudentFamily",
    "TrainOptions",
    "TrainedStudent",
    "family_of",
    "get_family",
    "load_classifier",
]


class Family(StrEnum):
    NGRAM = "ngram"
    MINILM = "minilm"


# Artefacts written before families existed have no "family" in meta.json: n-gram.
LEGACY_FAMILY = Family.NGRAM

_MODULES = {
    Family.NGRAM: "sieve.models.families.ngram",
    Family.MINILM: "sieve.models.families.minilm",
}


def get_family(name: str) -> StudentFamily:
    try:
        family = Family(name)
    except ValueError:
        known = ", ".join(f.value for f in Family)
        raise ConfigError(f"unknown model family {name!r} (known: {known})") from None
    family_object: StudentFamily = importlib.import_module(_MODULES[family]).FAMILY
    return family_object


def family_of(meta: dict[str, Any]) -> str:
    return str(meta.get("family") or LEGACY_FAMILY.value)


def load_classifier(artefact_dir: Path, *, intra_op_num_threads: int = 1) -> OnnxClassifier:
    """Load an artefact folder with the family named in its meta.json."""
    meta = read_json(artefact_dir / META_FILE)
    if not isinstance(meta, dict):
        raise PermanentError(f"{artefact_dir / META_FILE}: not a JSON object")
    family = get_family(family_of(meta))
    return family.load(artefact_dir, meta, intra_op_num_threads=intra_op_num_threads)

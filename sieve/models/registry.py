"""The registry of model artefacts: one folder per version under a root folder.

A version folder holds ``model.onnx``, ``labels.json`` and ``meta.json``. It is written
under a hidden temporary name and renamed into place, so a reader never sees a
half-written artefact. The version rows (which one is active) live in the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sieve.core.errors import ModelNotFound, PermanentError
from sieve.core.settings import Settings
from sieve.models.classifier import LABELS_FILE, META_FILE, OnnxClassifier
from sieve.models.families import TrainedStudent, TrainOptions, load_classifier
from sieve.models.versions import is_version_name

logger = logging.getLogger(__name__)

# Derived files shared by every version (exported encoders, embedding caches).
CACHE_DIR_NAME = ".encoders"


@dataclass(frozen=True)
class ArtefactInfo:
    version: str
    path: Path
    meta: dict[str, Any]


class ModelRegistry:
    def __init__(self, root: Path, *, cache_dir: Path | None = None) -> None:
        self.root = root
        # Hidden inside the root by default, so versions() never lists it.
        self.cache_dir = cache_dir if cache_dir is not None else root / CACHE_DIR_NAME

    def train_options(self, *, seed: int, epochs: int | None, num_threads: int) -> TrainOptions:
        return TrainOptions(
            seed=seed, epochs=epochs, cache_dir=self.cache_dir, num_threads=num_threads
        )

    def save(
        self,
        model: TrainedStudent,
        *,
        data_hash: str,
        metrics: dict[str, Any],
        version: str | None = None,
        routing: dict[str, Any] | None = None,
    ) -> ArtefactInfo:
        """Export ``model`` into a new version folder; the version must not exist yet.

        ``routing``: calibration that serving applies (its ``temperature``) and the routing
        thresholds fitted with it, stored as ``meta["routing"]``."""
        created = datetime.now(UTC)
        config = model.config()
        version = version or _new_version(model.family, created, data_hash, config)
        target = self.path(version)
        if target.exists():
            raise PermanentError(f"model version {version} already exists in {self.root}")
        meta = {
            "version": version,
            "family": model.family,
            "created_at": created.isoformat(),
            "data_hash": data_hash,
            "metrics": metrics,
            "train_config": config,
            "label_count": len(model.labels),
        }
        if routing is not None:
            meta["routing"] = routing
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=self.root))
        try:
            meta.update(model.export(staging))
            for path in staging.iterdir():
                _fsync(path)
            _write_json(staging / LABELS_FILE, list(model.labels))
            _write_json(staging / META_FILE, meta)
            os.chmod(staging, 0o755)  # mkdtemp makes it private to its owner
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        logger.info("saved model version %s in %s", version, target)
        return ArtefactInfo(version=version, path=target, meta=meta)

    def path(self, version: str) -> Path:
        if not is_version_name(version):
            raise ModelNotFound(f"not a model version: {version!r}")
        return self.root / version

    def exists(self, version: str) -> bool:
        try:
            return (self.path(version) / META_FILE).is_file()
        except ModelNotFound:
            return False

    def load(self, version: str, *, intra_op_num_threads: int = 1) -> OnnxClassifier:
        return load_classifier(self._existing(version), intra_op_num_threads=intra_op_num_threads)

    def read_meta(self, version: str) -> dict[str, Any]:
        path = self._existing(version) / META_FILE
        try:
            meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PermanentError(f"{path}: cannot read: {exc}") from exc
        return meta

    def versions(self) -> list[str]:
        """Every complete version, oldest first (version names sort by creation time)."""
        if not self.root.is_dir():
            return []
        return sorted(
            (
                entry.name
                for entry in self.root.iterdir()
                if not entry.name.startswith(".") and (entry / META_FILE).is_file()
            ),
            # Past the family prefix: versions of different families interleave by time.
            key=lambda name: (name.partition("-")[2], name),
        )

    def _existing(self, version: str) -> Path:
        path = self.path(version)
        if not (path / META_FILE).is_file():
            raise ModelNotFound(f"model version {version} is not in {self.root}")
        return path


def _new_version(family: str, created: datetime, data_hash: str, config: dict[str, Any]) -> str:
    """``<family>-YYYYmmddTHHMMSSZ-<8 hex>``: sorts by time within a family; the suffix
    tells apart versions made in the same second."""
    seed = json.dumps([data_hash, config, created.isoformat(), os.getpid()], sort_keys=True)
    digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:8]
    return f"{family}-{created:%Y%m%dT%H%M%SZ}-{digest}"


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _write_json(path: Path, value: Any) -> None:
    with path.open("w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def open_registry(settings: Settings) -> ModelRegistry:
    """The registry under ``SIEVE_MODELS_DIR`` (created if missing)."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    return ModelRegistry(settings.models_dir, cache_dir=settings.models.encoder_cache_dir)

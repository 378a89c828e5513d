"""The deployment's label set, and the start-up check that the active model shares it.

One source of truth per deployment: ``SIEVE_LABELS_FILE`` (``Settings.labels_file``), one
label per line. The LLM may answer only these labels, retraining trains on them, and the
active model must predict exactly them: a model trained on other labels would send the
LLM's answers (all refused as outside the set, each paid twice with the corrective turn)
and its own predictions into two different vocabularies. So the stream worker and the
Celery worker refuse to start when the two differ. ``sieve demo`` and benchmarks take the
label set of the data they are given (``sieve.core.dataset.label_set_for_data_dir``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from sieve.core.dataset import label_set_for_data_dir, read_label_set
from sieve.core.errors import ConfigError, ModelNotFound, PermanentError, TransientError
from sieve.models.classifier import LABELS_FILE
from sieve.store.versions import active_model_version, get_model_version

logger = logging.getLogger(__name__)

SETTING = "SIEVE_LABELS_FILE"
_SHOWN = 5


def deployment_label_set(labels_file: Path) -> list[str]:
    """The labels of ``labels_file``; a relative path is taken from the working directory
    (the default, ``data/banking77/labels.txt``, works from the project folder)."""
    if not labels_file.is_file():
        where = "" if labels_file.is_absolute() else f" (relative to {Path.cwd()})"
        raise ConfigError(f"{SETTING}: no label set file at {labels_file}{where}")
    try:
        return read_label_set(labels_file)
    except PermanentError as exc:
        raise ConfigError(f"{SETTING}: {exc}") from exc


def label_set_for_run(
    labels_file: Path | None, data_dir: Path, labels_in_data: Iterable[str]
) -> list[str]:
    """The label set of a demo or benchmark run on ``data_dir``: ``labels_file`` when the
    operator set SIEVE_LABELS_FILE, else the data directory's own. Either way every label
    of the data must be in it, or the LLM's correct answers would be refused."""
    if labels_file is not None:
        labels, source = deployment_label_set(labels_file), f"{SETTING}={labels_file}"
    else:
        labels, source = label_set_for_data_dir(data_dir), f"the label set of {data_dir}"
    outside = sorted(set(labels_in_data) - set(labels))
    if outside:
        raise ConfigError(f"labels of the data are not in {source}: {_listed(outside)}")
    return labels


def write_label_set(path: Path, labels: Sequence[str]) -> Path:
    path.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
    return path


def check_active_model_labels(engine: Engine, labels_file: Path) -> None:
    """ConfigError (one line) when the active model's labels differ from the label set;
    nothing when they agree or no model is active yet (cold start)."""
    label_set = deployment_label_set(labels_file)
    try:
        version = active_model_version(engine)
        if version is None:
            return
        record = get_model_version(engine, version)
    except (OperationalError, InterfaceError) as exc:
        raise TransientError(f"database unavailable: {type(exc).__name__}") from exc
    except ModelNotFound:
        return  # the stream worker reports a version it cannot load, and keeps running
    model_labels = _artefact_labels(Path(record.path))
    if model_labels is None:
        return
    only_model = sorted(set(model_labels) - set(label_set))
    only_set = sorted(set(label_set) - set(model_labels))
    if only_model or only_set:
        raise ConfigError(
            f"the active model {version} and the label set ({SETTING}={labels_file}) differ: "
            f"{_listed(only_model)} only in the model, {_listed(only_set)} only in the label "
            "set; point SIEVE_LABELS_FILE at the model's labels or activate a model trained "
            "on this label set"
        )


def _artefact_labels(artefact_dir: Path) -> list[str] | None:
    """The model's labels; None when its artefact cannot be read, which the stream worker's
    model watch reports and survives (it keeps the version it has), so no reason to refuse."""
    path = artefact_dir / LABELS_FILE
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        logger.warning("cannot read the active model's labels (%s): not checked", exc)
        return None
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ConfigError(f"{path}: not a list of labels")
    return labels


def _listed(labels: list[str]) -> str:
    shown = ", ".join(labels[:_SHOWN]) + (", ..." if len(labels) > _SHOWN else "")
    return f"{len(labels)} ({shown})" if labels else "0"

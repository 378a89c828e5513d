"""The family seam: which family trains (setting) and which loads (meta.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from sieve.core.errors import ConfigError, PermanentError
from sieve.core.settings import Settings
from sieve.models.families import Family, family_of, get_family, load_classifier
from sieve.models.families.ngram.features import HashingFeaturizer
from sieve.models.families.ngram.training import TrainedModel
from sieve.models.registry import ModelRegistry

TEXTS = ["refund please", "my card pin", "wire to payee"]


def _rewrite_meta(folder: Path, **changes: object) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    (folder / "meta.json").write_text(json.dumps(meta))


def test_every_family_name_resolves_and_an_unknown_one_is_a_config_error() -> None:
    for family in Family:
        assert get_family(family.value).name == family.value
    with pytest.raises(ConfigError, match="unknown model family 'bert'"):
        get_family("bert")


def test_the_setting_chooses_the_training_family(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIEVE_MODELS__FAMILY", raising=False)
    assert Settings().models.family == "minilm"  # the measured better one (README)
    monkeypatch.setenv("SIEVE_MODELS__FAMILY", "ngram")
    assert Settings().models.family == "ngram"
    monkeypatch.setenv("SIEVE_MODELS__FAMILY", "bert")
    with pytest.raises(ValidationError):
        Settings()
    # The setting's choices and the families are the same set.
    for family in Family:
        monkeypatch.setenv("SIEVE_MODELS__FAMILY", family.value)
        assert Settings().models.family == family.value


def test_meta_json_chooses_the_loading_family(small_model: TrainedModel, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    info = registry.save(small_model, data_hash="h", metrics={})
    assert info.meta["family"] == "ngram" and info.version.startswith("ngram-")
    expected = registry.load(info.version).predict_proba(TEXTS)

    # An artefact written before families existed has no "family": it is n-gram.
    _rewrite_meta(info.path, family=None)
    assert family_of(json.loads((info.path / "meta.json").read_text())) == "ngram"
    legacy = load_classifier(info.path)
    assert isinstance(legacy.featurizer, HashingFeaturizer)
    assert (legacy.predict_proba(TEXTS) == expected).all()
    assert (load_classifier(info.path).predict_proba(TEXTS) == expected).all()

    # The meta.json family decides, whatever the setting says: here it names minilm, so
    # the minilm loader looks for its tokenizer and does not find one.
    _rewrite_meta(info.path, family="minilm")
    with pytest.raises(PermanentError, match="tokenizer"):
        load_classifier(info.path)
    _rewrite_meta(info.path, family="bert")
    with pytest.raises(ConfigError, match="unknown model family"):
        load_classifier(info.path)


def test_versions_of_both_families_are_listed_by_time(
    small_model: TrainedModel, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path)
    registry.save(small_model, data_hash="h", metrics={}, version="ngram-20260102T000000Z-a")
    registry.save(small_model, data_hash="h", metrics={}, version="minilm-20260103T000000Z-b")
    registry.save(small_model, data_hash="h", metrics={}, version="ngram-20260104T000000Z-c")
    assert registry.versions() == [
        "ngram-20260102T000000Z-a",
        "minilm-20260103T000000Z-b",
        "ngram-20260104T000000Z-c",
    ]


def test_every_family_describes_its_artefact(small_model: TrainedModel, tmp_path: Path) -> None:
    info = ModelRegistry(tmp_path).save(small_model, data_hash="h", metrics={})
    assert get_family("ngram").describe(info.meta).startswith("n-gram: ")
    assert "MiniLM" in get_family("minilm").describe({"encoder": {"id": "e1"}})

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from sieve.core.errors import ModelNotFound, PermanentError
from sieve.models import classifier as classifier_module
from sieve.models.families import load_classifier
from sieve.models.families.ngram.export import export_onnx, padded_graph, save_graph, weights
from sieve.models.families.ngram.training import TrainedModel
from sieve.models.registry import ModelRegistry
from tests.unit.models.conftest import synthetic

TEXTS = ["refund please", "my card pin", "wire to payee", "", "something else entirely 🙂"]


def test_onnx_probs_match_the_torch_softmax(
    small_model: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.onnx"
    export_onnx(small_model, path)
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["ids", "offsets"]
    assert [o.name for o in graph.output] == ["logits", "probs", "embedding"]
    assert not any(node.op_type == "Loop" for node in graph.node)
    registry = ModelRegistry(tmp_path / "models")
    classifier = registry.load(registry.save(small_model, data_hash="h", metrics={}).version)
    ids, mask = classifier.featurizer.transform(TEXTS)
    with torch.no_grad():
        logits = small_model.network(torch.from_numpy(ids), torch.from_numpy(mask))
    expected = torch.softmax(logits, dim=1).numpy()
    np.testing.assert_allclose(classifier.predict_proba(TEXTS), expected, rtol=1e-4, atol=1e-6)
    # Inference runs texts in chunks; the answer must not depend on them.
    monkeypatch.setattr(classifier_module, "FLAT_CHUNK_TEXTS", 2)
    np.testing.assert_allclose(classifier.predict_proba(TEXTS), expected, rtol=1e-4, atol=1e-6)
    embedding = torch.nn.functional.normalize(
        small_model.network.pool(torch.from_numpy(ids), torch.from_numpy(mask)), dim=1
    )
    (graph_embedding,) = classifier.session.run(
        ["embedding"], dict(zip(("ids", "offsets"), classifier.features(TEXTS), strict=True))
    )
    np.testing.assert_allclose(graph_embedding, embedding.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_a_padded_ngram_graph_as_earlier_versions_saved_still_serves(
    small_model: TrainedModel, tmp_path: Path
) -> None:
    """Artefacts exported before the flat graph take (ids, mask); they must keep loading
    and give the flat graph's answers."""
    registry = ModelRegistry(tmp_path / "models")
    info = registry.save(small_model, data_hash="h", metrics={})
    flat = registry.load(info.version).predict_scores(TEXTS)
    save_graph(padded_graph(*weights(small_model)), info.path / "model.onnx")
    classifier = registry.load(info.version)
    assert not classifier.flat
    classifier.chunk_rows = 2
    scores = classifier.predict_scores(TEXTS)
    assert scores.similarity is not None and flat.similarity is not None
    np.testing.assert_allclose(scores.similarity, flat.similarity, atol=1e-5)
    np.testing.assert_allclose(scores.probs, flat.probs, rtol=1e-4, atol=1e-6)


def test_save_load_round_trip(small_model: TrainedModel, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    info = registry.save(small_model, data_hash="abc", metrics={"accuracy": 0.5})
    assert info.path == registry.path(info.version)
    assert sorted(p.name for p in info.path.iterdir()) == [
        "labels.json",
        "meta.json",
        "model.onnx",
        "reference.npy",
    ]
    assert json.loads((info.path / "labels.json").read_text()) == list(small_model.labels)
    meta = registry.read_meta(info.version)
    assert meta == info.meta
    assert meta["family"] == "ngram" and meta["data_hash"] == "abc"
    assert meta["metrics"] == {"accuracy": 0.5}
    assert meta["created_at"].endswith("+00:00")
    assert info.version.startswith("ngram-")
    classifier = registry.load(info.version)
    assert classifier.version == info.version
    assert classifier.labels == small_model.labels
    probs = classifier.predict_proba(TEXTS)
    assert probs.dtype == np.float32 and probs.shape == (len(TEXTS), len(small_model.labels))
    assert probs.sum(axis=1) == pytest.approx([1.0] * len(TEXTS), abs=1e-5)
    np.testing.assert_array_equal(
        probs.argmax(axis=1), small_model.predict_proba(TEXTS).argmax(axis=1)
    )
    assert classifier.predict_proba([]).shape == (0, len(small_model.labels))
    assert load_classifier(info.path).version == info.version


def test_versions_are_listed_in_order_and_staging_folders_are_hidden(
    small_model: TrainedModel, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path)
    assert registry.versions() == []
    registry.save(small_model, data_hash="h", metrics={}, version="ngram-2")
    registry.save(small_model, data_hash="h", metrics={}, version="ngram-1")
    (tmp_path / ".tmp-ngram-3-xyz").mkdir()  # a save that crashed half way
    assert registry.versions() == ["ngram-1", "ngram-2"]
    with pytest.raises(PermanentError, match="exists"):
        registry.save(small_model, data_hash="h", metrics={}, version="ngram-1")


def test_missing_versions_raise_model_not_found(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ModelNotFound):
        registry.load("ngram-20990101T000000Z-deadbeef")
    with pytest.raises(ModelNotFound):
        registry.read_meta("ngram-missing")
    with pytest.raises(ModelNotFound):
        registry.load("../escape")
    with pytest.raises(ModelNotFound):
        load_classifier(tmp_path / "nowhere")


def test_similarity_to_the_training_texts(small_model: TrainedModel, tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    classifier = registry.load(registry.save(small_model, data_hash="h", metrics={}).version)
    seen, _ = synthetic(300, seed=1)  # the small model's own training texts
    junk = ["zzzz qqqq xxxx", "0000 1111"]
    scores = classifier.predict_scores(seen[:5] + junk)
    assert scores.similarity is not None
    assert ((scores.similarity >= -1.0) & (scores.similarity <= 1.0)).all()
    assert scores.similarity[:5].min() > 0.99  # fp32 graph: the same text, the same vector
    # Mean-pooled n-grams share a large common component (the marker, filler words), so
    # junk stays close to 1 here; on Banking77 in-domain test texts had a median of 0.93,
    # off-domain questions 0.59-0.84.
    assert scores.similarity[5:].max() < scores.similarity[:5].min()
    np.testing.assert_allclose(scores.probs, classifier.predict_proba(seen[:5] + junk), atol=1e-6)
    # A version saved without reference embeddings has no similarity to offer.
    (registry.path(classifier.version) / "reference.npy").unlink()
    assert registry.load(classifier.version).predict_scores(junk).similarity is None

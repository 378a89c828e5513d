"""The fast classifier as the stream worker sees it, and its onnxruntime implementation.

Every student family serves through ``OnnxClassifier``: a family contributes the
featuriser (texts → padded ids and mask) and the graph; this module owns the session, the
length-sorted chunking, temperature and the similarity to the training examples.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from sieve.core.errors import ModelNotFound, PermanentError
from sieve.models.calibration import apply_temperature

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.json"
META_FILE = "meta.json"
# L2-normalised embeddings of (a sample of) the training texts, float16 [R, D].
REFERENCE_FILE = "reference.npy"
# Enough rows for a nearest-neighbour similarity, few enough to multiply per batch.
MAX_REFERENCE_ROWS = 20_000
EMBEDDING_OUTPUT = "embedding"
# meta.json key of the routing thresholds (sieve.routing.thresholds.RoutingThresholds);
# the classifier reads only its "temperature".
ROUTING_KEY = "routing"
DEFAULT_CHUNK_ROWS = 32
FLAT_INPUTS = ("ids", "offsets")
# Texts per call of a flat graph: its float32 prefix sums stay small enough to subtract.
FLAT_CHUNK_TEXTS = 256


# onnxruntime's errors derive from Exception directly; these are the ones a load raises.
_ORT_LOAD_ERRORS = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
    ort_errors.RuntimeException,
)


# Which rows of the batch one session call scores, and its feeds.
_Chunk = tuple[np.ndarray | slice, dict[str, np.ndarray]]


@dataclass(frozen=True)
class ModelScores:
    """``probs`` float32 [N, K]; ``similarity`` float32 [N] in [-1, 1]: the highest cosine
    similarity between a text and the training examples, or None when the model has no
    embedding to compare (an "I have not seen this" signal for routing)."""

    probs: np.ndarray
    similarity: np.ndarray | None


class FastClassifier(Protocol):
    version: str
    labels: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), len(labels)]; each row sums to 1."""
        ...

    def predict_scores(self, texts: Sequence[str]) -> ModelScores: ...


class Featurizer(Protocol):
    def transform(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64 [B, L], mask float32 [B, L]); each row's features first, padding after."""
        ...


class OnnxClassifier:
    """Featuriser + onnxruntime session over one artefact folder of the registry."""

    def __init__(
        self,
        session: ort.InferenceSession,
        featurizer: Featurizer,
        labels: Sequence[str],
        version: str,
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        temperature: float = 1.0,
        reference: np.ndarray | None = None,
    ) -> None:
        if not (math.isfinite(temperature) and temperature > 0.0):
            raise PermanentError(f"model {version}: bad temperature {temperature!r}")
        self.session = session
        self.featurizer = featurizer
        self.labels = tuple(labels)
        self.version = version
        self.chunk_rows = chunk_rows
        # Temperature scaling fitted at retraining; 1.0 serves the graph's own "probs".
        self.temperature = temperature
        outputs = {output.name for output in session.get_outputs()}
        # A flat graph (n-gram since issue 11) takes (ids, offsets): no padding, no chunks
        # by length; a padded one (MiniLM, older n-gram artefacts) takes (ids, mask).
        self.flat = {item.name for item in session.get_inputs()} == set(FLAT_INPUTS)
        if self.flat and not hasattr(featurizer, "transform_flat"):
            raise PermanentError(f"model {version}: a flat graph needs a flat featuriser")
        self.has_embedding = EMBEDDING_OUTPUT in outputs
        # float32 [D, R]: one matrix product gives every similarity of a chunk.
        self.reference_t = (
            np.ascontiguousarray(reference.astype(np.float32).T)
            if reference is not None and len(reference) and EMBEDDING_OUTPUT in outputs
            else None
        )
        self._nearest = (
            None
            if self.reference_t is None
            else nearest_session(self.reference_t, session.get_session_options())
        )

    @classmethod
    def open(
        cls,
        artefact_dir: Path,
        featurizer: Featurizer,
        *,
        intra_op_num_threads: int = 1,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> OnnxClassifier:
        """The family-independent part of a load: graph, labels, version, temperature and
        the reference embeddings if the folder has them.

        One intra-op thread by default: the stream worker shares its cores with the broker.
        """
        model_path = artefact_dir / MODEL_FILE
        if not model_path.is_file():
            raise ModelNotFound(f"no {MODEL_FILE} in {artefact_dir}")
        meta = read_json(artefact_dir / META_FILE)
        labels = read_json(artefact_dir / LABELS_FILE)
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise PermanentError(f"{artefact_dir / LABELS_FILE}: not a list of labels")
        try:
            version = str(meta["version"])
            temperature = float((meta.get(ROUTING_KEY) or {}).get("temperature", 1.0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PermanentError(f"{artefact_dir / META_FILE}: bad meta: {exc!r}") from exc
        reference = _read_reference(artefact_dir / REFERENCE_FILE)
        session = open_session(model_path, intra_op_num_threads)
        logger.info(
            "loaded model %s (%d labels, temperature %.3f) from %s",
            version,
            len(labels),
            temperature,
            artefact_dir,
        )
        return cls(
            session,
            featurizer,
            labels,
            version,
            chunk_rows=chunk_rows,
            temperature=temperature,
            reference=reference,
        )

    def features(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """What the graph takes: (ids, offsets) for a flat graph, else (ids, mask)."""
        if self.flat:
            return self.featurizer.transform_flat(texts)  # type: ignore[attr-defined]
        return self.featurizer.transform(texts)

    def infer(self, ids: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Probabilities for featurised texts (``features``), float32 [B, num_labels]."""
        return self._run(ids, second, with_similarity=False).probs

    def _run(self, ids: np.ndarray, second: np.ndarray, *, with_similarity: bool) -> ModelScores:
        count = len(second) - 1 if self.flat else len(ids)
        probs = np.empty((count, len(self.labels)), dtype=np.float32)
        similar = with_similarity and self._nearest is not None
        similarity = np.empty(count, dtype=np.float32) if similar else None
        outputs = ["probs" if self.temperature == 1.0 else "logits"]
        if similar:
            outputs.append(EMBEDDING_OUTPUT)
        chunks = self._flat_chunks(ids, second) if self.flat else self._padded_chunks(ids, second)
        for rows, feeds in chunks:
            result = self.session.run(outputs, feeds)
            if self.temperature == 1.0:
                probs[rows] = result[0]
            else:
                probs[rows] = apply_temperature(result[0], self.temperature)
            if similarity is not None and self._nearest is not None:
                (cosine,) = self._nearest.run(None, {EMBEDDING_OUTPUT: result[1]})
                similarity[rows] = np.clip(cosine, -1.0, 1.0)
        return ModelScores(probs=probs, similarity=similarity)

    def _padded_chunks(self, ids: np.ndarray, mask: np.ndarray) -> Iterator[_Chunk]:
        """Rows in chunks of similar length, each cut to its own longest row: the cost of
        a padded graph follows the padded size. One long text in a batch of 256 short ones
        would otherwise pad them all (n-gram, banking77 at batch 256: ~20k items/s
        unchunked, ~45k/s in chunks of 32)."""
        counts = mask.sum(axis=1)
        order = np.argsort(counts, kind="stable")
        for start in range(0, len(order), self.chunk_rows):
            rows = order[start : start + self.chunk_rows]
            length = max(int(counts[rows[-1]]), 1)
            yield rows, {"ids": ids[rows, :length], "mask": mask[rows, :length]}

    def _flat_chunks(self, ids: np.ndarray, offsets: np.ndarray) -> Iterator[_Chunk]:
        """At most FLAT_CHUNK_TEXTS texts per call (the graph's prefix sums are float32)."""
        texts = len(offsets) - 1
        for start in range(0, texts, FLAT_CHUNK_TEXTS):
            stop = min(start + FLAT_CHUNK_TEXTS, texts)
            first, last = int(offsets[start]), int(offsets[stop])
            feeds = {"ids": ids[first:last], "offsets": offsets[start : stop + 1] - first}
            yield slice(start, stop), feeds

    def predict_scores(self, texts: Sequence[str]) -> ModelScores:
        if len(texts) == 0:
            empty = np.zeros(0, dtype=np.float32) if self._nearest is not None else None
            return ModelScores(np.zeros((0, len(self.labels)), dtype=np.float32), empty)
        return self._run(*self.features(texts), with_similarity=True)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.infer(*self.features(texts))

    @property
    def id(self) -> str:
        """The embedding space's name (sieve.labeler.retrieval.TextEmbedder): the version."""
        return self.version

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings float32 [N, D], the space ``similarity`` is measured in;
        PermanentError for a graph without an embedding output."""
        if not self.has_embedding:
            raise PermanentError(f"model {self.version} has no {EMBEDDING_OUTPUT} output")
        ids, second = self.features(texts)
        chunks = self._flat_chunks(ids, second) if self.flat else self._padded_chunks(ids, second)
        out: np.ndarray | None = None
        for rows, feeds in chunks:
            (vectors,) = self.session.run([EMBEDDING_OUTPUT], feeds)
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        if out is None:
            return np.zeros((0, 0), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normalised: np.ndarray = out / np.maximum(norms, 1e-12)
        return normalised


def open_session(model_path: Path, intra_op_num_threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_num_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_num_threads > 1:
        # Idle pool threads spin by default. On a host whose cores are shared (the stream
        # worker beside its broker, several processes on 2 cores here) spinning halved the
        # MiniLM encoder's throughput: 59 vs 103 items/s at batch 64 under load ~8.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except _ORT_LOAD_ERRORS as exc:
        raise PermanentError(f"{model_path}: onnxruntime cannot load it: {exc}") from exc


def nearest_session(reference_t: np.ndarray, options: ort.SessionOptions) -> ort.InferenceSession:
    """embedding float32 [B, D] → each row's highest cosine with the reference, float32 [B].

    In onnxruntime, on the classifier's own session options, rather than numpy: numpy's
    BLAS starts a thread pool of its own beside onnxruntime's, and on a stream worker's
    shared cores that pool made the similarity two thirds of the inference time (py-spy,
    n-gram student, batch 500)."""
    dim, _rows = reference_t.shape
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", [EMBEDDING_OUTPUT, "reference_t"], ["cosine"]),
            helper.make_node("ReduceMax", ["cosine"], ["nearest"], axes=[1], keepdims=0),
        ],
        "nearest_reference",
        [helper.make_tensor_value_info(EMBEDDING_OUTPUT, TensorProto.FLOAT, ["batch", dim])],
        [helper.make_tensor_value_info("nearest", TensorProto.FLOAT, ["batch"])],
        [numpy_helper.from_array(np.ascontiguousarray(reference_t, np.float32), "reference_t")],
    )
    # Opset 17: ReduceMax takes its axes as an attribute there (an input from 18 on).
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )


def reference_sample(embeddings: np.ndarray, seed: int) -> np.ndarray:
    """At most MAX_REFERENCE_ROWS rows of L2-normalised embeddings, as float16."""
    rows = embeddings
    if len(rows) > MAX_REFERENCE_ROWS:
        chosen = np.random.default_rng(seed).choice(len(rows), MAX_REFERENCE_ROWS, replace=False)
        rows = rows[np.sort(chosen)]
    return rows.astype(np.float16)


def _read_reference(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        reference = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{path}: cannot read: {exc}") from exc
    if reference.ndim != 2:
        raise PermanentError(f"{path}: expected a matrix, got shape {reference.shape}")
    return reference


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelNotFound(f"{path} is missing") from exc
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{path}: cannot read: {exc}") from exc

"""ONNX export of a trained n-gram network: (ids, offsets) → (logits, probs, embedding).

The graph takes a batch without padding, as ``HashingFeaturizer.transform_flat`` gives it:
``ids`` int64 [N], every text's n-gram buckets one after another, and ``offsets`` int64
[B + 1], text i's features being ``ids[offsets[i]:offsets[i + 1]]``. The masked mean of the
training network becomes a difference of prefix sums:

    rows    = Gather(embedding table, ids + [0])        [N + 1, D]   (row 0 is zero)
    prefix  = CumSum(rows, exclusive)                   [N + 1, D]
    pooled  = (prefix[ends] - prefix[starts]) / count   [B, D]

so a batch costs one Gather over its real features and a handful of ops, whatever the
lengths of its texts — the padded graph gathered every padding cell too and had to be run
in length-sorted chunks (`sieve bench classify` measures both on the same weights:
bench/RESULTS.md). The graph is written with ``onnx.helper`` from the trained weights, so
exporting needs no tracing. ``embedding`` is the L2-normalised pooled vector (the linear
layer's input): the classifier compares it with the training texts' embeddings.

Prefix sums in float32 lose precision as they grow: the classifier runs at most
``FLAT_CHUNK_TEXTS`` texts per call (~25,000 rows on Banking77; probabilities within 1e-5
of the padded graph's).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sieve.core.errors import PermanentError

if TYPE_CHECKING:
    from sieve.models.families.ngram.training import TrainedModel

logger = logging.getLogger(__name__)

INPUT_NAMES = ("ids", "offsets")
OUTPUT_NAMES = ("logits", "probs", "embedding")
OPSET_VERSION = 17
# Norm floor of the embedding output, as torch.nn.functional.normalize's eps.
_EPS = 1e-12


def export_onnx(model: TrainedModel, path: Path) -> None:
    """Write ``model`` as one flat ONNX graph at ``path``, checked with onnx.checker."""
    save_graph(flat_graph(*weights(model)), path)


def weights(model: TrainedModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embedding table [buckets, D], linear weight [K, D], bias [K]) as float32 arrays."""
    network = model.network
    return (
        network.embedding.weight.detach().cpu().numpy().astype(np.float32),
        network.output.weight.detach().cpu().numpy().astype(np.float32),
        network.output.bias.detach().cpu().numpy().astype(np.float32),
    )


def save_graph(graph: onnx.GraphProto, path: Path) -> None:
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET_VERSION)])
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise PermanentError(f"{path}: exported ONNX model is invalid: {exc}") from exc
    onnx.save(proto, str(path))
    logger.debug("exported ONNX model to %s (%d bytes)", path, path.stat().st_size)


def flat_graph(table: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> onnx.GraphProto:
    """``table`` float32 [buckets, D]; ``weight`` [K, D] and ``bias`` [K]: the linear layer."""
    if np.any(table[0]):
        raise PermanentError("row 0 of the n-gram table is the padding bucket: it must be zero")
    initializers = [
        *_head_constants(table, weight, bias),
        _const("padding_id", np.zeros(1, dtype=np.int64)),
        _const("axis0", np.array(0, dtype=np.int64)),
        _const("begin", np.array([0], dtype=np.int64)),
        _const("second", np.array([1], dtype=np.int64)),
        _const("before_last", np.array([-1], dtype=np.int64)),
        _const("very_end", np.array([np.iinfo(np.int64).max], dtype=np.int64)),
    ]
    node = helper.make_node
    nodes = [
        # One more id, 0 (the padding bucket, a zero row), so that the exclusive prefix
        # sum has an entry for the end of the last text: prefix[k] = rows[0] + … + rows[k-1].
        node("Concat", ["ids", "padding_id"], ["ids_and_end"], axis=0),
        node("Gather", ["table", "ids_and_end"], ["rows"], axis=0),
        node("CumSum", ["rows", "axis0"], ["prefix"], exclusive=1),
        node("Slice", ["offsets", "begin", "before_last"], ["starts"]),
        node("Slice", ["offsets", "second", "very_end"], ["ends"]),
        node("Gather", ["prefix", "ends"], ["prefix_at_end"], axis=0),
        node("Gather", ["prefix", "starts"], ["prefix_at_start"], axis=0),
        node("Sub", ["prefix_at_end", "prefix_at_start"], ["summed"]),
        node("Sub", ["ends", "starts"], ["count_int"]),
        node("Cast", ["count_int"], ["count_raw"], to=TensorProto.FLOAT),
        node("Max", ["count_raw", "min_count"], ["count_flat"]),
        node("Unsqueeze", ["count_flat", "one_axis"], ["count"]),
        node("Div", ["summed", "count"], ["pooled"]),
        *_head_nodes(),
    ]
    inputs = [
        helper.make_tensor_value_info("ids", TensorProto.INT64, ["features"]),
        helper.make_tensor_value_info("offsets", TensorProto.INT64, ["texts_plus_one"]),
    ]
    return helper.make_graph(nodes, "ngram_flat", inputs, _outputs(weight), initializers)


def padded_graph(table: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> onnx.GraphProto:
    """The (ids [B, L], mask [B, L]) graph n-gram students had before the flat one, on the
    same weights: kept for the classify benchmark's baseline and older artefacts' tests."""
    node = helper.make_node
    nodes = [
        node("Gather", ["table", "ids"], ["rows"], axis=0),
        node("Unsqueeze", ["mask", "one_axis"], ["mask_row"]),
        node("MatMul", ["mask_row", "rows"], ["summed_row"]),  # [B, 1, L] @ [B, L, D]
        node("Squeeze", ["summed_row", "one_axis"], ["summed"]),
        node("ReduceSum", ["mask", "one_axis"], ["count_raw"], keepdims=1),
        node("Max", ["count_raw", "min_count"], ["count"]),
        node("Div", ["summed", "count"], ["pooled"]),
        *_head_nodes(),
    ]
    inputs = [
        helper.make_tensor_value_info("ids", TensorProto.INT64, ["texts", "length"]),
        helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["texts", "length"]),
    ]
    initializers = _head_constants(table, weight, bias)
    return helper.make_graph(nodes, "ngram_padded", inputs, _outputs(weight), initializers)


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def _head_constants(
    table: np.ndarray, weight: np.ndarray, bias: np.ndarray
) -> list[onnx.TensorProto]:
    return [
        _const("table", table),
        _const("weight", weight),
        _const("bias", bias),
        _const("one_axis", np.array([1], dtype=np.int64)),
        _const("min_count", np.array(1.0, dtype=np.float32)),
        _const("eps", np.array(_EPS, dtype=np.float32)),
    ]


def _head_nodes() -> list[onnx.NodeProto]:
    """pooled → logits, probs, and the L2-normalised embedding."""
    node = helper.make_node
    return [
        node("Gemm", ["pooled", "weight", "bias"], ["logits"], transB=1),
        node("Softmax", ["logits"], ["probs"], axis=1),
        node("ReduceL2", ["pooled"], ["norm_raw"], axes=[1], keepdims=1),
        node("Max", ["norm_raw", "eps"], ["norm"]),
        node("Div", ["pooled", "norm"], ["embedding"]),
    ]


def _outputs(weight: np.ndarray) -> list[onnx.ValueInfoProto]:
    labels, dim = weight.shape
    return [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["texts", labels]),
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["texts", labels]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["texts", dim]),
    ]

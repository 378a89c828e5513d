"""ONNX export of a trained n-gram network: (ids, mask) → (logits, probs, embedding).

``embedding`` is the L2-normalised pooled n-gram embedding (the linear layer's input): the
classifier compares it with the training texts' embeddings for its similarity score."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import onnx
import torch
from torch import nn

from sieve.core.errors import PermanentError
from sieve.models.families.ngram.network import NgramNet

if TYPE_CHECKING:
    from sieve.models.families.ngram.training import TrainedModel

logger = logging.getLogger(__name__)

INPUT_NAMES = ("ids", "mask")
OUTPUT_NAMES = ("logits", "probs", "embedding")
OPSET_VERSION = 17


class _WithProbabilities(nn.Module):
    def __init__(self, network: NgramNet) -> None:
        super().__init__()
        self.network = network

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = self.network.pool(ids, mask)
        logits = self.network.output(pooled)
        embedding = nn.functional.normalize(pooled, p=2.0, dim=1)
        return logits, torch.softmax(logits, dim=1), embedding


def export_onnx(model: TrainedModel, path: Path) -> None:
    """Write ``model`` as one ONNX graph at ``path`` and check it with onnx.checker."""
    wrapper = _WithProbabilities(model.network).eval()
    ids = torch.ones((2, 3), dtype=torch.int64)
    mask = torch.ones((2, 3), dtype=torch.float32)
    dynamic = {0: "batch", 1: "length"}
    with torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter (dynamo=False) on purpose: the dynamo one needs onnxscript.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            wrapper,
            (ids, mask),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={
                "ids": dynamic,
                "mask": dynamic,
                "logits": {0: "batch"},
                "probs": {0: "batch"},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET_VERSION,
            dynamo=False,
        )
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise PermanentError(f"{path}: exported ONNX model is invalid: {exc}") from exc
    logger.debug("exported ONNX model to %s (%d bytes)", path, path.stat().st_size)

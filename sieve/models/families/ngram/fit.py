"""The n-gram network's training step, written out: forward pass, gradients and Adam
updates in a few matrix products, without autograd and without ``torch.optim``.

Why by hand: on 8,000 Banking77 texts (630 batches of 64) autograd with a sparse
embedding gradient and ``SparseAdam`` took ~22 ms a batch — coalescing a gradient of
B × L rows and two ``sparse_mask`` calls per step — and the first ``torch.optim``
optimiser of a process imports ``torch._dynamo`` (seconds). The same step here is well
under a millisecond of arithmetic.

The math is the network's (network.py). A batch of B texts holds N n-gram occurrences
of U distinct n-grams; with ``share_i = 1 / (n-grams of the text of occurrence i)``:
- ``pooled[b] = Σ_{i in text b} share_i · E[id_i]``: one ``embedding_bag`` over the table;
- ``logits = pooled Wᵀ + b``, the loss is the mean cross-entropy, whose gradient is
  ``(softmax - onehot) / B``;
- the gradient of embedding row u is ``Σ_{i: id_i = u} share_i · dpooled[text_i]``: the
  same ``embedding_bag``, over ``dpooled`` with the occurrences grouped by n-gram (one
  stable argsort). Dense over the U touched rows only.

The updates are those of the optimisers they replace, with the learning rate decaying
linearly to zero over all steps (step k of n uses ``lr · (1 - k/n)``):
- the embedding table: ``SparseAdam`` (lazy Adam: only the touched rows' moments move;
  bias correction by the global step; ``lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m / (√v + ε)``);
- the output layer: ``Adam`` (``lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)``).
Unit tests check the gradients against autograd on the network itself, and the updates
against torch's optimisers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


@dataclass(frozen=True)
class FlatBatch:
    """A batch's features without padding: feature i belongs to text ``text[i]`` (0..B-1,
    ascending: each text's features together) and is n-gram ``ids[i]``; ``counts[b]`` is
    text b's number of features (≥ 1)."""

    text: np.ndarray  # int64 [N]
    ids: np.ndarray  # int64 [N]
    counts: np.ndarray  # int64 [B]

    def offsets(self) -> torch.Tensor:
        """Where each text's features start (``embedding_bag``'s offsets)."""
        return torch.from_numpy(np.cumsum(self.counts) - self.counts)


@dataclass(frozen=True)
class Gradients:
    loss: float
    rows: torch.Tensor  # int64 [U]: the embedding rows the batch touches, ascending
    embedding: torch.Tensor  # float32 [U, D]: their gradient
    weight: torch.Tensor  # float32 [K, D]
    bias: torch.Tensor  # float32 [K]


def compact_vocabulary(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vocabulary int64 [V], ``ids`` renumbered into it): the distinct n-grams of the
    training set, most frequent first. Training updates only these rows, so it runs on
    a table of them (Banking77: 25,500 of 65,536 rows): a third of the memory that every
    step reaches into at random, and the rows most batches touch side by side."""
    vocabulary, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    by_frequency = np.argsort(-counts, kind="stable")
    rank = np.empty_like(by_frequency)
    rank[by_frequency] = np.arange(len(by_frequency))
    return vocabulary[by_frequency], rank[inverse.reshape(-1)]


def pooled(table: torch.Tensor, batch: FlatBatch) -> torch.Tensor:
    """The mean of each text's n-gram embeddings (rows of ``table``), float32 [B, D]."""
    with torch.no_grad():
        return functional.embedding_bag(
            torch.from_numpy(batch.ids), table, batch.offsets(), mode="mean"
        )


def gradients(
    table: torch.Tensor, output: nn.Linear, batch: FlatBatch, targets: torch.Tensor
) -> Gradients:
    """The mean cross-entropy of the batch and its gradients (module docstring): the
    n-grams are rows of ``table``, ``output`` is the linear layer."""
    share = torch.from_numpy((1.0 / np.maximum(batch.counts, 1)[batch.text]).astype(np.float32))
    # The occurrences grouped by n-gram: the rows touched, and where each one's group starts.
    by_id = np.argsort(batch.ids, kind="stable")
    sorted_ids = batch.ids[by_id]
    first = np.flatnonzero(np.diff(sorted_ids, prepend=-1))
    weight, bias = output.weight, output.bias
    with torch.no_grad():
        pooled = functional.embedding_bag(
            torch.from_numpy(batch.ids),
            table,
            batch.offsets(),
            mode="sum",
            per_sample_weights=share,
        )
        logits = torch.addmm(bias, pooled, weight.t())
        log_probs = torch.log_softmax(logits, dim=1)
        picked = log_probs.gather(1, targets[:, None])
        loss = -float(picked.mean())
        grad_logits = log_probs.exp_()
        grad_logits.scatter_add_(1, targets[:, None], torch.full_like(picked, -1.0))
        grad_logits /= len(targets)
        grad_pooled = grad_logits @ weight
        grad_rows = functional.embedding_bag(
            torch.from_numpy(batch.text[by_id]),
            grad_pooled,
            torch.from_numpy(first),
            mode="sum",
            per_sample_weights=share[torch.from_numpy(by_id)],
        )
        return Gradients(
            loss=loss,
            rows=torch.from_numpy(sorted_ids[first]),
            embedding=grad_rows,
            weight=grad_logits.t() @ pooled,
            bias=grad_logits.sum(dim=0),
        )


class AdamUpdates:
    """The optimiser state of one training run and its per-step updates (module
    docstring): lazy Adam on the rows of ``table``, Adam on ``output``."""

    def __init__(self, table: torch.Tensor, output: nn.Linear, lr: float, total_steps: int) -> None:
        self.table = table
        self.lr = lr
        self.total_steps = max(total_steps, 1)
        self.step = 0
        # Both moments of a row side by side: one gather and one scatter per step.
        self._moments = torch.zeros((table.shape[0], 2, table.shape[1]), dtype=table.dtype)
        self._dense = [
            (p, torch.zeros_like(p, requires_grad=False), torch.zeros_like(p, requires_grad=False))
            for p in (output.weight, output.bias)
        ]

    def apply(self, grads: Gradients) -> None:
        lr = self.lr * (1.0 - self.step / self.total_steps)
        self.step += 1
        correction1 = 1.0 - BETA1**self.step
        correction2 = 1.0 - BETA2**self.step
        with torch.no_grad():
            self._lazy_rows(grads.rows, grads.embedding, lr * math.sqrt(correction2) / correction1)
            for (param, m, v), grad in zip(self._dense, (grads.weight, grads.bias), strict=True):
                m.lerp_(grad, 1.0 - BETA1)
                v.mul_(BETA2).addcmul_(grad, grad, value=1.0 - BETA2)
                denom = (v.sqrt() / math.sqrt(correction2)).add_(EPS)
                param.addcdiv_(m, denom, value=-lr / correction1)

    def _lazy_rows(self, rows: torch.Tensor, grad: torch.Tensor, step_size: float) -> None:
        moments = self._moments.index_select(0, rows)
        m, v = moments[:, 0], moments[:, 1]
        m.lerp_(grad, 1.0 - BETA1)
        v.mul_(BETA2).addcmul_(grad, grad, value=1.0 - BETA2)
        self._moments.index_copy_(0, rows, moments)
        # Scaled here, not by index_add_'s alpha: that path measured twice as slow.
        update = m.div(v.sqrt_().add_(EPS)).mul_(-step_size)
        self.table.index_add_(0, rows, update)

"""The n-gram network: hashed n-gram embeddings, masked mean, one linear layer.

``nn.Embedding`` plus an explicit masked mean exports to plain ONNX ops (Gather, Mul,
ReduceSum, Div, Gemm). ``nn.EmbeddingBag`` would export to a ``Loop`` that runs 5–200×
slower in onnxruntime, so it is not used.
"""

from __future__ import annotations

import torch
from torch import nn


class NgramNet(nn.Module):
    """forward(ids int64 [B, L], mask float32 [B, L]) → logits float32 [B, num_labels]."""

    def __init__(self, num_buckets: int, dim: int, num_labels: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_buckets, dim, padding_idx=0, sparse=True)
        self.output = nn.Linear(dim, num_labels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # fastText's initialisation: small uniform embeddings, a zero output layer.
        bound = 1.0 / self.embedding.embedding_dim
        with torch.no_grad():
            nn.init.uniform_(self.embedding.weight, -bound, bound)
            self.embedding.weight[0].zero_()  # padding row: no gradient ever reaches it
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def pool(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The masked mean of the n-gram embeddings, float32 [B, dim]."""
        # [B, 1, L] @ [B, L, D]: the masked sum without a [B, L, D] temporary.
        summed = torch.bmm(mask.unsqueeze(1), self.embedding(ids)).squeeze(1)
        count = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        return summed / count

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.pool(ids, mask))

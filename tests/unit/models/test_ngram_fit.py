"""The hand-written training step (sieve.models.families.ngram.fit) against what it
replaces: autograd through the network itself, and torch's SparseAdam + Adam with a
linearly decaying learning rate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional

from sieve.models.families.ngram.fit import (
    AdamUpdates,
    FlatBatch,
    compact_vocabulary,
    gradients,
    pooled,
)
from sieve.models.families.ngram.network import NgramNet

BUCKETS, DIM, LABELS = 40, 6, 5


def _network(seed: int = 0) -> NgramNet:
    torch.manual_seed(seed)
    network = NgramNet(BUCKETS, DIM, LABELS)
    with torch.no_grad():  # a zero output layer would leave the embeddings no gradient
        network.output.weight.normal_(0.0, 0.5)
        network.output.bias.normal_(0.0, 0.5)
    return network


def _batch(seed: int, size: int = 7) -> tuple[torch.Tensor, torch.Tensor, FlatBatch]:
    """A padded batch (ids, mask) with repeated n-grams, and the same batch flat."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 9, size=size)
    ids = np.zeros((size, int(counts.max())), dtype=np.int64)
    for row, count in enumerate(counts):
        ids[row, :count] = rng.integers(1, 12, size=count)  # few buckets: many repeats
    mask = (ids != 0).astype(np.float32)
    flat = FlatBatch(
        text=np.repeat(np.arange(size), counts), ids=ids[mask > 0], counts=counts.astype(np.int64)
    )
    return torch.from_numpy(ids), torch.from_numpy(mask), flat


def _targets(seed: int, size: int = 7) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed + 100).integers(0, LABELS, size=size))


def test_pooled_is_the_networks_masked_mean() -> None:
    network = _network()
    ids, mask, flat = _batch(1)
    with torch.no_grad():
        expected = network.pool(ids, mask)
    assert torch.allclose(pooled(network.embedding.weight, flat), expected, atol=1e-6)


def test_gradients_match_autograd_through_the_network() -> None:
    network = _network()
    ids, mask, flat = _batch(2)
    targets = _targets(2)
    loss = functional.cross_entropy(network(ids, mask), targets)
    loss.backward()
    grads = gradients(network.embedding.weight, network.output, flat, targets)

    assert grads.loss == pytest.approx(float(loss.detach()), abs=1e-6)
    assert torch.allclose(grads.weight, network.output.weight.grad, atol=1e-6)
    assert torch.allclose(grads.bias, network.output.bias.grad, atol=1e-6)
    table = network.embedding.weight.grad.to_dense()
    assert grads.rows.tolist() == sorted(set(flat.ids.tolist()))
    assert torch.allclose(grads.embedding, table[grads.rows], atol=1e-6)
    untouched = torch.ones(BUCKETS, dtype=torch.bool)
    untouched[grads.rows] = False
    assert not table[untouched].any()


def test_updates_follow_sparse_adam_and_adam_with_linear_decay() -> None:
    steps, lr = 4, 0.05
    ours, reference = _network(3), _network(3)
    optimisers = [
        torch.optim.SparseAdam(reference.embedding.parameters(), lr=lr),
        torch.optim.Adam(reference.output.parameters(), lr=lr),
    ]
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / steps)
        for opt in optimisers
    ]
    updates = AdamUpdates(ours.embedding.weight, ours.output, lr, steps)
    for step in range(steps):
        ids, mask, flat = _batch(10 + step)
        targets = _targets(10 + step)
        for opt in optimisers:
            opt.zero_grad()
        functional.cross_entropy(reference(ids, mask), targets).backward()
        for opt, scheduler in zip(optimisers, schedulers, strict=True):
            opt.step()
            scheduler.step()
        updates.apply(gradients(ours.embedding.weight, ours.output, flat, targets))
    for mine, theirs in zip(ours.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-5)
    assert not ours.embedding.weight[0].any()  # the padding row is never touched


def test_compact_vocabulary_renumbers_most_frequent_first() -> None:
    ids = np.array([7, 3, 7, 9, 7, 3], dtype=np.int64)
    vocabulary, compact = compact_vocabulary(ids)
    assert vocabulary.tolist() == [7, 3, 9]
    assert compact.tolist() == [0, 1, 0, 2, 0, 1]
    assert (vocabulary[compact] == ids).all()


def test_training_moves_the_rows_it_uses_and_keeps_the_others_as_initialised() -> None:
    from sieve.models.families.ngram.features import HashingFeaturizer
    from sieve.models.families.ngram.training import train_ngram
    from tests.unit.models.conftest import LABELS, SMALL_CONFIG, synthetic

    texts, labels = synthetic(40, seed=8)
    model = train_ngram(texts, labels, LABELS, SMALL_CONFIG)
    torch.manual_seed(SMALL_CONFIG.seed)
    initial = NgramNet(SMALL_CONFIG.features.num_buckets, SMALL_CONFIG.dim, len(LABELS))
    ids, mask = HashingFeaturizer(SMALL_CONFIG.features).transform(texts)
    used = torch.zeros(SMALL_CONFIG.features.num_buckets, dtype=torch.bool)
    used[torch.from_numpy(np.unique(ids[mask > 0]))] = True
    trained = model.network.embedding.weight.detach()
    before = initial.embedding.weight.detach()
    assert torch.equal(trained[~used], before[~used])
    assert not torch.isclose(trained[used], before[used]).all(dim=1).any()

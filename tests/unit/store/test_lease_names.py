"""sieve.store.coordination.lease_name: the names leases had as literals, unchanged (a
running deployment's Redis keys and lock rows keep matching)."""

from __future__ import annotations

import pytest

from sieve.store.coordination import LeaseKind, lease_name


@pytest.mark.parametrize(
    ("kind", "parts", "expected"),
    [
        (LeaseKind.RETRAIN, (), "retrain"),
        (LeaseKind.LABEL_LOCK, ("m1", "classify@1"), "label-lock:m1:classify@1"),
        (LeaseKind.ENQUEUED, ("label:m1:classify@1",), "enqueued:label:m1:classify@1"),
    ],
)
def test_lease_names_keep_their_text(kind: LeaseKind, parts: tuple[str, ...], expected: str):
    assert lease_name(kind, *parts) == expected

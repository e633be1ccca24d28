"""Unit tests for hub.registry.index: the batch hash index answers as a dict would."""

from __future__ import annotations

import numpy as np

from hub.registry.index import KeyIndex


def test_finds_every_key_and_misses_the_others() -> None:
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 10**12, 60_000))
    rng.shuffle(keys)
    keys[::7] = -1  # rows without a key (a citizen without a legacy number)
    index = KeyIndex(keys)
    expected = {int(k): row for row, k in enumerate(keys.tolist()) if k >= 0}
    queries = np.concatenate([keys, rng.integers(0, 10**12, 5000), np.array([-1, -5, 0])])
    found = index.find(queries)
    assert found.tolist() == [expected.get(int(q), -1) for q in queries.tolist()]
    assert [index.find_one(int(q)) for q in queries[:3000].tolist()] == found[:3000].tolist()
    assert len(index) == len(expected)


def test_keys_that_collide_are_all_found() -> None:
    keys = np.arange(0, 64 * 1000, 64, dtype=np.int64)  # low bits equal: a weak hash would pile them up
    index = KeyIndex(keys)
    assert index.find(keys).tolist() == list(range(len(keys)))
    assert index.find(keys + 1).tolist() == [-1] * len(keys)


def test_an_empty_index() -> None:
    index = KeyIndex(np.zeros(0, np.int64))
    assert index.find(np.array([1, 2], np.int64)).tolist() == [-1, -1]
    assert index.find_one(3) == -1 and len(index) == 0

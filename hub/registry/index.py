"""A hash index from integer keys to row numbers, looked up a whole batch at a time.

The registry's 2.7 M citizen numbers (and their legacy numbers) are integers of at most
twelve digits. A Python dict of them costs ~100 bytes a key and one interpreted lookup a
record; this open-addressing table costs 4 bytes a slot, at most half full, and looks up
thousands of keys in a few numpy operations (about one cache miss each).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["KeyIndex"]

IntArray = npt.NDArray[np.int64]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: multiply, keep the top bits
_GOLDEN_INT, _U64 = int(_GOLDEN), (1 << 64) - 1
_EMPTY = -1


class KeyIndex:
    """Non-negative int64 keys → row numbers (int32); a key missing answers -1.

    ``keys[row]`` is the key of each row; rows whose key is negative are not indexed. Keys must
    be distinct among the indexed rows (the registry's numbers are).
    """

    def __init__(self, keys: IntArray) -> None:
        self.keys = keys
        indexed = np.flatnonzero(keys >= 0)
        bits = max(4, int(2 * max(len(indexed), 1) - 1).bit_length())
        self._shift = np.uint64(64 - bits)
        self._bits_off = 64 - bits
        self._mask = (1 << bits) - 1
        self.slots = np.full(1 << bits, _EMPTY, np.int32)
        self._insert(indexed)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.slots != _EMPTY))

    def _home(self, keys: IntArray) -> IntArray:
        hashed = (keys.astype(np.uint64) * _GOLDEN) >> self._shift  # wraps around, as hashing wants
        return hashed.astype(np.int64)

    def _insert(self, rows: IntArray) -> None:
        """Linear probing, a round per probe distance: each round places the rows whose slot is
        free and not wanted by an earlier row of the same round."""
        slot = self._home(self.keys[rows])
        while rows.size:
            free = self.slots[slot] == _EMPTY
            _, first = np.unique(slot[free], return_index=True)
            placed = np.flatnonzero(free)[first]
            self.slots[slot[placed]] = rows[placed]
            waiting = np.ones(rows.size, bool)
            waiting[placed] = False
            rows, slot = rows[waiting], (slot[waiting] + 1) & self._mask

    def find_one(self, key: int) -> int:
        """The row of one key, or -1: :meth:`find` without the cost of arrays."""
        if key < 0:
            return _EMPTY
        slot = ((key * _GOLDEN_INT) & _U64) >> self._bits_off
        slots, keys = self.slots, self.keys
        while True:
            row = int(slots[slot])
            if row == _EMPTY or int(keys[row]) == key:
                return row
            slot = (slot + 1) & self._mask

    def find(self, keys: IntArray) -> IntArray:
        """The row of each key, or -1."""
        found = np.full(len(keys), _EMPTY, np.int64)
        going = np.flatnonzero(keys >= 0)
        slot = self._home(keys[going])
        while going.size:
            row = self.slots[slot].astype(np.int64)
            hit = row != _EMPTY
            hit[hit] = self.keys[row[hit]] == keys[going[hit]]
            found[going[hit]] = row[hit]
            more = (row != _EMPTY) & ~hit
            going, slot = going[more], (slot[more] + 1) & self._mask
        return found

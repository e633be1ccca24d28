"""Avro's variable-length zig-zag integers, written and read in one place.

An Avro ``int``, ``long``, length, union branch or enum index is the zig-zag encoding of the
number (``0, -1, 1, -2 …`` → ``0, 1, 2, 3 …``) written seven bits a byte, low bits first, the
high bit of each byte saying another follows. The compiled encoder and decoder, the batch scan,
the batch reconciler's outputs and the registry snapshot all use these functions (or, in
generated code, :func:`read_long_source`), so there is one definition of the format.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "LENGTHS",
    "SMALL",
    "encode_int",
    "encode_length",
    "encode_long",
    "encode_many",
    "encode_unsigned",
    "read_long",
    "read_long_source",
    "read_many",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
MAX_BYTES = 10  # a 64-bit zig-zag value takes at most ten bytes


def encode_unsigned(z: int) -> bytes:
    """The varint bytes of an unsigned (already zig-zagged) number."""
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


SMALL = tuple(encode_unsigned(z) for z in range(1 << 14))  # zig-zag values 0 .. 16383, precomputed
LENGTHS = tuple(encode_unsigned(2 * n) for n in range(1 << 16))  # lengths below 64 KiB


def encode_long(n: int) -> bytes:
    """An Avro ``long``; TypeError or ValueError for what is not a 64-bit integer."""
    if type(n) is not int:  # bool is an int subclass, but not an Avro long
        raise TypeError(f"{n!r} is not an integer")
    if not LONG_MIN <= n <= LONG_MAX:
        raise ValueError(f"{n} does not fit in a 64-bit long")
    z = (n << 1) ^ (n >> 63)
    return SMALL[z] if z < 16384 else encode_unsigned(z)


def encode_int(n: int) -> bytes:
    """An Avro ``int``; TypeError or ValueError for what is not a 32-bit integer."""
    if type(n) is not int:
        raise TypeError(f"{n!r} is not an integer")
    if not INT_MIN <= n <= INT_MAX:
        raise ValueError(f"{n} does not fit in a 32-bit int")
    z = (n << 1) ^ (n >> 63)
    return SMALL[z] if z < 16384 else encode_unsigned(z)


def encode_length(n: int) -> bytes:
    """The length of a string, bytes, array block or map block."""
    return LENGTHS[n] if n < 65536 else encode_unsigned(2 * n)


def read_long(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """The zig-zag varint at ``pos``: (value, next position); ValueError past ten bytes."""
    b = buf[pos]
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        pos += 1
        b = buf[pos]
        n |= (b & 0x7F) << shift
        shift += 7
        if shift > 7 * MAX_BYTES:
            raise ValueError(f"varint longer than {MAX_BYTES} bytes")
    return (n >> 1) ^ -(n & 1), pos + 1


def read_long_source(target: str) -> list[tuple[int, str]]:
    """:func:`read_long` as lines of Python (indent, code) that generated decoders inline.

    They read from ``buf`` at ``p``, move ``p`` past the varint and leave the value in
    ``target``, using the scratch names ``b``, ``n`` and ``s``; the one-byte case first.
    """
    return [
        (0, "b = buf[p]"),
        (0, "if b < 0x80:"),
        (1, f"{target} = (b >> 1) ^ -(b & 1)"),
        (1, "p += 1"),
        (0, "else:"),
        (1, "n = b & 0x7F"),
        (1, "s = 7"),
        (1, "p += 1"),
        (1, "while True:"),
        (2, "b = buf[p]"),
        (2, "n |= (b & 0x7F) << s"),
        (2, "p += 1"),
        (2, "if b < 0x80: break"),
        (2, "s += 7"),
        (2, f"if s > {7 * (MAX_BYTES - 1)}: raise ValueError('varint longer than {MAX_BYTES} bytes')"),
        (1, f"{target} = (n >> 1) ^ -(n & 1)"),
    ]


def encode_many(values: IntArray) -> tuple[npt.NDArray[np.uint8], IntArray]:
    """The varints of many ``long`` values at once: a row of bytes each (as wide as the longest,
    zero-padded), and each one's length."""
    z = ((values << 1) ^ (values >> 63)).astype(np.uint64)
    columns: list[npt.NDArray[np.uint8]] = []
    size = np.zeros(len(values), np.int64)
    going = np.ones(len(values), bool)
    while not columns or (going.any() and len(columns) < MAX_BYTES):
        low = (z & np.uint64(0x7F)).astype(np.uint8)
        z >>= np.uint64(7)
        more = z > 0
        columns.append(np.where(going, low | (more.astype(np.uint8) << 7), 0).astype(np.uint8))
        size += going
        going &= more
    return np.stack(columns, axis=1), size


def read_many(
    byte_at: Callable[[IntArray], IntArray], start: IntArray, first: IntArray, more: BoolArray
) -> tuple[IntArray, IntArray, BoolArray]:
    """The varints at many positions at once: (values, sizes in bytes, odd).

    ``byte_at`` reads the byte at each of some positions; ``first`` is the byte at each start and
    ``more`` says which varints go on past it (only those are read further). ``odd`` marks
    varints a decoder would read but an encoder never writes: longer than nine bytes, or ending
    in a zero byte.
    """
    raw = first & 0x7F
    size = np.ones(len(start), np.int64)
    going = np.flatnonzero(more)
    odd = np.zeros(len(start), bool)
    shift = 7
    while going.size:
        if shift > 56:
            odd[going] = True
            break
        byte = byte_at(start[going] + size[going])
        raw[going] |= (byte & 0x7F) << shift
        size[going] += 1
        odd[going[byte == 0]] = True
        going = going[byte >= 0x80]
        shift += 7
    return (raw >> 1) ^ -(raw & 1), size, odd

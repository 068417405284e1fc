"""Compiled Hamming primitives (numba): the word layout, XOR + popcount, and the block masks every
scan is built on. The scans themselves live where their concept does: ``search_kernels`` (exact
top-k, radius, multi-index hashing) and ``metric_kernels`` (the tie-aware evaluation).

Codes enter the kernels as uint64 words laid out word-major, ``[W, N]``: the innermost loops then run
over items, which LLVM vectorises (VPOPCNTQ where the CPU has AVX-512). Every selective scan turns a
block of ``BLOCK`` items into a bit mask of those below the query's current threshold in one
vectorised loop and visits only the set bits, so the common case costs one vectorised popcount per
item and nothing else. The database is walked in tiles of ``TILE`` items that stay in cache while a
block of ``QUERY_BLOCK`` queries runs over them.

Every kernel keeps its state in arrays the caller owns and takes the database one chunk at a time
(``offset`` = the chunk's first row), so a database larger than RAM is streamed with the same code.
Results are exact and in database order within equal distances: the order the mAP definition uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

BLOCK = 64  # items per bit mask
TILE = 2048  # items per cache tile (16 KiB of one-word codes)
QUERY_BLOCK = 16  # queries sharing a tile (one parallel task)
KEY_BLOCK = 512  # items whose histogram keys are computed in one vectorised loop

# An integer scalar in a kernel: a Python int or a numpy int64, one type (int64) to numba, two to numpy's stubs.
Int: TypeAlias = int | np.int64


if TYPE_CHECKING:
    # numba's stubs type a call of an @intrinsic with its typing function's signature (typingctx included)
    # and a Never result; in nopython code it takes the remaining arguments and returns a uint64.

    def popcount(x: np.uint64) -> np.uint64:
        """LLVM's ctpop, which becomes POPCNT (or VPOPCNTQ once vectorised)."""

    def trailing_zeros(x: np.uint64) -> np.uint64:
        """LLVM's cttz (TZCNT): the position of the lowest set bit."""

else:

    @intrinsic
    def popcount(typingctx, x):  # type: ignore[no-untyped-def]
        """LLVM's ctpop, which becomes POPCNT (or VPOPCNTQ once vectorised)."""
        sig = types.uint64(types.uint64)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.ctpop(args[0])

        return sig, codegen

    @intrinsic
    def trailing_zeros(typingctx, x):  # type: ignore[no-untyped-def]
        """LLVM's cttz (TZCNT): the position of the lowest set bit."""
        sig = types.uint64(types.uint64)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

        return sig, codegen


def to_words(packed: np.ndarray) -> np.ndarray:
    """Packed uint8 rows [N, B] -> zero-padded uint64 words [ceil(B/8), N], the layout every kernel takes."""
    n, width = packed.shape
    words = -(-width // 8)
    if width == 8 and packed.flags.c_contiguous:
        return packed.view(np.uint64).reshape(1, n)
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, :width] = packed
    return np.ascontiguousarray(padded.view(np.uint64).T)


def label_words(labels: np.ndarray) -> np.ndarray:
    """Multi-hot uint8 labels [N, C] -> bit-packed uint64 words [ceil(C/64), N]: relevance is one AND."""
    return to_words(np.packbits(labels.astype(bool), axis=1))


@njit(cache=True, nogil=True, inline="always")
def block_mask(query: np.ndarray, db: np.ndarray, start: int, n: int, limit: int, buf: np.ndarray) -> np.uint64:
    """Bit j set when item ``start + j`` (j < n <= 64) is at distance < ``limit``; multi-word codes
    sum their words' popcounts in ``buf`` first. Both loops vectorise; the mask replaces a rescan."""
    row = db[0, start : start + n]
    q = query[0]
    lim = np.uint64(limit)
    mask = np.uint64(0)
    if db.shape[0] == 1:
        for j in range(n):
            mask |= np.uint64(popcount(q ^ row[j]) < lim) << np.uint64(j)
        return mask
    for j in range(n):
        buf[j] = popcount(q ^ row[j])
    for w in range(1, db.shape[0]):
        row = db[w, start : start + n]
        q = query[w]
        for j in range(n):
            buf[j] += popcount(q ^ row[j])
    for j in range(n):
        mask |= np.uint64(buf[j] < lim) << np.uint64(j)
    return mask


@njit(cache=True, nogil=True, inline="always")
def item_distance(query: np.ndarray, db: np.ndarray, item: Int) -> np.int64:
    acc = np.uint64(0)
    for w in range(db.shape[0]):
        acc += popcount(query[w] ^ db[w, item])
    return np.int64(acc)


@njit(cache=True, nogil=True, inline="always")
def item_relevant(labels: np.ndarray, db_labels: np.ndarray, item: Int) -> bool:
    for w in range(db_labels.shape[0]):  # noqa: SIM110 (numba compiles no generator expressions)
        if labels[w] & db_labels[w, item]:
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def block_distances(query: np.ndarray, db: np.ndarray, start: int, n: int, out: np.ndarray) -> None:
    """Every distance of ``db[:, start:start+n]`` to one query, into ``out[:n]``."""
    row = db[0, start : start + n]
    q = query[0]
    for j in range(n):
        out[j] = popcount(q ^ row[j])
    for w in range(1, db.shape[0]):
        row = db[w, start : start + n]
        q = query[w]
        for j in range(n):
            out[j] += popcount(q ^ row[j])


@njit(cache=True, nogil=True, inline="always")
def block_keys(
    query: np.ndarray, db: np.ndarray, labels: np.ndarray, db_labels: np.ndarray, start: int, n: int, out: np.ndarray
) -> None:
    """``out[j]`` = 2 * distance + relevant (shares a label) for item ``start + j``; one fused loop for
    one-word codes with up to 128 labels (the common case), word by word otherwise."""
    one = np.uint64(1)
    row = db[0, start : start + n]
    q = query[0]
    tags = db_labels[0, start : start + n]
    t = labels[0]
    if db.shape[0] == 1 and db_labels.shape[0] == 1:
        for j in range(n):
            out[j] = (popcount(q ^ row[j]) << one) | np.uint64((t & tags[j]) != 0)
        return
    if db.shape[0] == 1 and db_labels.shape[0] == 2:
        tags2 = db_labels[1, start : start + n]
        t2 = labels[1]
        for j in range(n):
            out[j] = (popcount(q ^ row[j]) << one) | np.uint64(((t & tags[j]) | (t2 & tags2[j])) != 0)
        return
    block_distances(query, db, start, n, out)
    for j in range(n):
        out[j] <<= one
    for j in range(n):
        relevant = np.uint64(0)
        for w in range(db_labels.shape[0]):
            relevant |= labels[w] & db_labels[w, start + j]
        out[j] |= np.uint64(relevant != 0)


@njit(cache=True, nogil=True, inline="always")
def bit_count(value: Int) -> np.int64:
    return np.int64(popcount(np.uint64(value)))

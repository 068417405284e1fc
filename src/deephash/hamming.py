"""Compiled Hamming kernels (numba): XOR + popcount, and the exact selections built on it.

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

import math
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
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
def _block_mask(query: np.ndarray, db: np.ndarray, start: int, n: int, limit: int, buf: np.ndarray) -> np.uint64:
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
def _distance(query: np.ndarray, db: np.ndarray, item: Int) -> np.int64:
    acc = np.uint64(0)
    for w in range(db.shape[0]):
        acc += popcount(query[w] ^ db[w, item])
    return np.int64(acc)


@njit(cache=True, nogil=True, inline="always")
def _relevant(labels: np.ndarray, db_labels: np.ndarray, item: Int) -> bool:
    for w in range(db_labels.shape[0]):  # noqa: SIM110 (numba compiles no generator expressions)
        if labels[w] & db_labels[w, item]:
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def _block_distances(query: np.ndarray, db: np.ndarray, start: int, n: int, out: np.ndarray) -> None:
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
def _block_keys(
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
    _block_distances(query, db, start, n, out)
    for j in range(n):
        out[j] <<= one
    for j in range(n):
        relevant = np.uint64(0)
        for w in range(db_labels.shape[0]):
            relevant |= labels[w] & db_labels[w, start + j]
        out[j] |= np.uint64(relevant != 0)


# --- exact top-k -------------------------------------------------------------------------------


@njit(cache=True, nogil=True, parallel=True)
def topk_start(queries: np.ndarray, sample: np.ndarray, size: int, k: int, margin: float, bits: int) -> np.ndarray:
    """A first threshold per query, from its distances to a sample of the database: the smallest
    distance below which about ``margin * k`` of the ``size`` items are expected to lie.

    Starting there instead of at bits + 1 skips most early insertions; a query whose guess was too
    low (fewer than k items below it) is seen at the end, its threshold never having moved."""
    num_queries = queries.shape[1]
    out = np.full(num_queries, bits + 1, np.int64)
    scale = size / sample.shape[1]
    target = margin * k
    for qi in prange(num_queries):
        q_words = queries[:, qi].copy()
        hist = np.zeros(bits + 1, np.int64)
        for j in range(sample.shape[1]):
            hist[_distance(q_words, sample, j)] += 1
        total = 0
        for d in range(bits + 1):
            total += hist[d]
            if total * scale >= target:
                out[qi] = d + 1
                break
    return out


@njit(cache=True, nogil=True, parallel=True)
def topk_scan(
    queries: np.ndarray,
    db: np.ndarray,
    offset: int,
    k: int,
    threshold: np.ndarray,
    below: np.ndarray,
    hist: np.ndarray,
    buf_dist: np.ndarray,
    buf_index: np.ndarray,
    fill: np.ndarray,
) -> None:
    """Feed one database chunk to every query's running top-k.

    An item enters when fewer than k items seen so far are at its distance or closer; later items
    never displace it at equal distance, which is the stable (database-order) tie-break. The
    threshold is the smallest distance that already has k items at or below it, kept exact from a
    histogram of the accepted items, so most blocks are rejected by their mask alone. Accepted items
    go to a buffer of ``2k`` that is compacted to the current top k when full.
    """
    num_queries = queries.shape[1]
    n = db.shape[1]
    cap = buf_dist.shape[1]
    for qb in prange((num_queries + QUERY_BLOCK - 1) // QUERY_BLOCK):
        dist = np.empty(BLOCK, np.uint64)
        q_words = np.empty(queries.shape[0], np.uint64)
        for t0 in range(0, n, TILE):
            t1 = min(n, t0 + TILE)
            for qi in range(qb * QUERY_BLOCK, min(num_queries, (qb + 1) * QUERY_BLOCK)):
                q_words[:] = queries[:, qi]
                t, f, nb = threshold[qi], fill[qi], below[qi]
                for b0 in range(t0, t1, BLOCK):
                    if b0 + BLOCK <= t1:
                        mask = _block_mask(q_words, db, b0, BLOCK, t, dist)
                    else:
                        mask = _block_mask(q_words, db, b0, t1 - b0, t, dist)
                    while mask:
                        j = b0 + np.int64(trailing_zeros(mask))
                        mask &= mask - np.uint64(1)
                        d = _distance(q_words, db, j)
                        if d >= t:
                            continue
                        if f == cap:
                            f = _compact(buf_dist[qi], buf_index[qi], f, t, k - nb)
                        buf_dist[qi, f] = d
                        buf_index[qi, f] = offset + j
                        f += 1
                        hist[qi, d] += 1
                        nb += 1
                        while nb >= k:
                            t -= 1
                            nb -= hist[qi, t]
                threshold[qi], fill[qi], below[qi] = t, f, nb


@njit(cache=True, nogil=True)
def _compact(dist: np.ndarray, index: np.ndarray, fill: int, t: int, keep_at_t: int) -> int:
    """Keep, in order, the items below ``t`` and the first ``keep_at_t`` items at ``t``: the current top k."""
    out = 0
    for i in range(fill):
        d = dist[i]
        if d < t or (d == t and keep_at_t > 0):
            if d == t:
                keep_at_t -= 1
            dist[out] = d
            index[out] = index[i]
            out += 1
    return out


@njit(cache=True, nogil=True)
def topk_finish(
    k: int, bits: int, buf_dist: np.ndarray, buf_index: np.ndarray, fill: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stable counting sort of each buffer by distance; the first k are the (distance, index) order."""
    num_queries = buf_dist.shape[0]
    out_dist = np.zeros((num_queries, k), np.int32)
    out_index = np.full((num_queries, k), -1, np.int64)
    for qi in range(num_queries):
        start = np.zeros(bits + 2, np.int64)
        for i in range(fill[qi]):
            start[buf_dist[qi, i] + 1] += 1
        for d in range(1, bits + 2):
            start[d] += start[d - 1]
        for i in range(fill[qi]):
            d = buf_dist[qi, i]
            pos = start[d]
            start[d] += 1
            if pos < k:
                out_dist[qi, pos] = d
                out_index[qi, pos] = buf_index[qi, i]
    return out_dist, out_index


# --- radius search ---------------------------------------------------------------------------------

KEY_SHIFT = 40  # radius results are int64 keys (distance << 40 | index): sorting them gives (distance, index)


@njit(cache=True, nogil=True, parallel=True)
def radius_scan(
    queries: np.ndarray, db: np.ndarray, offset: int, radius: int, count: np.ndarray, out: np.ndarray
) -> None:
    """Append, in database order, every item within ``radius`` to its query's row of ``out``.

    ``count`` keeps counting past the row's capacity, so the caller can rerun the queries that
    overflowed with room enough.
    """
    num_queries = queries.shape[1]
    n = db.shape[1]
    cap = out.shape[1]
    for qb in prange((num_queries + QUERY_BLOCK - 1) // QUERY_BLOCK):
        dist = np.empty(BLOCK, np.uint64)
        q_words = np.empty(queries.shape[0], np.uint64)
        for t0 in range(0, n, TILE):
            t1 = min(n, t0 + TILE)
            for qi in range(qb * QUERY_BLOCK, min(num_queries, (qb + 1) * QUERY_BLOCK)):
                q_words[:] = queries[:, qi]
                for b0 in range(t0, t1, BLOCK):
                    m = min(BLOCK, t1 - b0)
                    mask = _block_mask(q_words, db, b0, m, radius + 1, dist)
                    while mask:
                        j = np.int64(trailing_zeros(mask))
                        mask &= mask - np.uint64(1)
                        c = count[qi]
                        if c < cap:
                            out[qi, c] = (_distance(q_words, db, b0 + j) << KEY_SHIFT) | (offset + b0 + j)
                        count[qi] = c + 1


# --- multi-index hashing ---------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _substring(words: np.ndarray, item: Int, lo: int, length: int) -> np.int64:
    """Bits ``lo .. lo+length`` (length <= 32) of one code, as an integer key."""
    w = lo >> 6
    shift = lo & 63
    value = words[w, item] >> np.uint64(shift)
    if shift + length > 64:
        value |= words[w + 1, item] << np.uint64(64 - shift)
    return np.int64(value & np.uint64((1 << length) - 1))


@njit(cache=True, nogil=True)
def substring_keys(words: np.ndarray, lo: int, length: int) -> np.ndarray:
    keys = np.empty(words.shape[1], np.int64)
    for i in range(words.shape[1]):
        keys[i] = _substring(words, i, lo, length)
    return keys


@njit(cache=True, nogil=True, inline="always")
def _next_mask(mask: Int, flips: Int, length: int) -> Int:
    """The next mask of ``flips`` set bits below ``length`` (Gosper's hack), else the first of flips + 1.

    Starting from 0, the masks run through every pattern of 1 flipped bit, then 2, ...; -1 past ``length``.
    """
    if mask != 0:
        low = mask & -mask
        ripple = mask + low
        nxt = (((ripple ^ mask) >> 2) // low) | ripple
        if nxt < (1 << length):
            return nxt
    if flips + 1 > length:
        return -1
    return (1 << (flips + 1)) - 1


@njit(cache=True, nogil=True, parallel=True)
def mih_search(
    queries: np.ndarray,
    db: np.ndarray,
    radius: int,
    bounds: np.ndarray,
    starts: np.ndarray,
    members: np.ndarray,
    count: np.ndarray,
    out: np.ndarray,
) -> None:
    """Radius search through m substring tables (multi-index hashing, Norouzi et al., CVPR 2012).

    By pigeonhole an item within ``radius`` is within ``radius // m`` of the query on at least one
    substring, so probing every key that close in each table finds it; it is kept only from the
    first table where it qualifies (no duplicates), then checked on the whole code. Rows of ``out``
    come sorted. A query whose buckets hold more than a sixteenth of the database is left to a scan
    (``count`` -1): past that, probing costs more than scanning.
    """
    num_queries = queries.shape[1]
    tables = bounds.shape[0]
    cap = out.shape[1]
    sub_radius = radius // tables
    candidates: Int
    mask: Int
    flips: Int
    for qi in prange(num_queries):
        q_words = np.ascontiguousarray(queries[:, qi : qi + 1])
        keys = np.empty(tables, np.int64)
        for t in range(tables):
            keys[t] = _substring(q_words, 0, bounds[t, 0], bounds[t, 1])
        candidates = 0
        for t in range(tables):
            mask, flips = 0, 0
            while mask >= 0 and flips <= sub_radius:
                key = keys[t] ^ mask
                candidates += np.int64(starts[t, key + 1]) - np.int64(starts[t, key])
                mask = _next_mask(mask, flips, bounds[t, 1])
                flips = _bit_count(mask)
        if candidates * 16 > db.shape[1]:
            count[qi] = -1
            continue
        c = 0
        for t in range(tables):
            mask, flips = 0, 0
            while mask >= 0 and flips <= sub_radius:
                key = keys[t] ^ mask
                for p in range(np.int64(starts[t, key]), np.int64(starts[t, key + 1])):
                    item = np.int64(members[t, p])
                    d = _distance(q_words[:, 0], db, item)
                    if d > radius or _found_earlier(db, item, keys, bounds, t, sub_radius):
                        continue
                    if c < cap:
                        out[qi, c] = (d << KEY_SHIFT) | item
                    c += 1
                mask = _next_mask(mask, flips, bounds[t, 1])
                flips = _bit_count(mask)
        if c <= cap:
            out[qi, :c].sort()
        count[qi] = c


@njit(cache=True, nogil=True, inline="always")
def _bit_count(value: Int) -> np.int64:
    return np.int64(popcount(np.uint64(value)))


@njit(cache=True, nogil=True, inline="always")
def _found_earlier(
    db: np.ndarray, item: Int, keys: np.ndarray, bounds: np.ndarray, table: int, sub_radius: int
) -> bool:
    for t in range(table):
        if _bit_count(keys[t] ^ _substring(db, item, bounds[t, 0], bounds[t, 1])) <= sub_radius:
            return True
    return False


# --- evaluation ----------------------------------------------------------------------------------


@njit(cache=True, nogil=True, parallel=True)
def distance_histograms(
    queries: np.ndarray, db: np.ndarray, labels: np.ndarray, db_labels: np.ndarray, hist: np.ndarray
) -> None:
    """Add one chunk to ``hist[q, d, rel]``: items at distance d, relevant (1) or not (0), per query.

    Keys (2 * distance + relevant) of a block are computed in one vectorised loop; the increments
    then run as one plain scalar loop (on Zen 4, faster than interleaved histogram copies).
    """
    num_queries = queries.shape[1]
    n = db.shape[1]
    slots = hist.shape[1] * 2
    for qb in prange((num_queries + QUERY_BLOCK - 1) // QUERY_BLOCK):
        keys = np.empty(KEY_BLOCK, np.uint64)
        q_words = np.empty(queries.shape[0], np.uint64)
        q_labels = np.empty(labels.shape[0], np.uint64)
        local = np.empty(slots, np.int64)
        for t0 in range(0, n, TILE):
            t1 = min(n, t0 + TILE)
            for qi in range(qb * QUERY_BLOCK, min(num_queries, (qb + 1) * QUERY_BLOCK)):
                q_words[:] = queries[:, qi]
                q_labels[:] = labels[:, qi]
                local[:] = 0
                for b0 in range(t0, t1, KEY_BLOCK):
                    m = min(KEY_BLOCK, t1 - b0)
                    _block_keys(q_words, db, q_labels, db_labels, b0, m, keys)
                    for j in range(m):
                        local[np.int64(keys[j])] += 1
                for s in range(slots):
                    hist[qi, s >> 1, s & 1] += local[s]


@njit(cache=True, nogil=True, parallel=True)
def rank_scan(
    queries: np.ndarray,
    db: np.ndarray,
    labels: np.ndarray,
    db_labels: np.ndarray,
    depth: np.ndarray,
    todo: np.ndarray,
    last_rank: np.ndarray,
    last_hit: np.ndarray,
    cutoffs: np.ndarray,
    is_map: np.ndarray,
    hits: np.ndarray,
    ap_sum: np.ndarray,
) -> None:
    """Walk one chunk in database order and credit each relevant item at its exact stable rank.

    With the full histograms known, ranks at distance d follow the items before d: ``last_rank[q, d]``
    starts as their count and counts on as items at d are seen (``last_hit`` likewise for relevant
    items). Only distances up to ``depth[q]`` (the group holding the deepest cut-off) can rank inside
    a cut-off; ``depth`` drops by one once that group has given its share, and to -1 once all
    ``todo[q]`` ranks are placed, so the rest of the database costs one mask per block.
    ``hits[q, c]`` counts the relevant items within cut-off c and ``ap_sum[q, c]`` adds precision at
    each of their ranks (only where ``is_map[c]``).
    """
    num_queries = queries.shape[1]
    n = db.shape[1]
    num_cuts = cutoffs.shape[0]
    deepest = cutoffs[num_cuts - 1]
    for qb in prange((num_queries + QUERY_BLOCK - 1) // QUERY_BLOCK):
        dist = np.empty(BLOCK, np.uint64)
        q_words = np.empty(queries.shape[0], np.uint64)
        q_labels = np.empty(labels.shape[0], np.uint64)
        for t0 in range(0, n, TILE):
            t1 = min(n, t0 + TILE)
            for qi in range(qb * QUERY_BLOCK, min(num_queries, (qb + 1) * QUERY_BLOCK)):
                limit, left = depth[qi], todo[qi]
                if limit < 0:
                    continue
                q_words[:] = queries[:, qi]
                q_labels[:] = labels[:, qi]
                ranks, found, q_hits, q_ap = last_rank[qi], last_hit[qi], hits[qi], ap_sum[qi]
                for b0 in range(t0, t1, BLOCK):
                    mask = _block_mask(q_words, db, b0, min(BLOCK, t1 - b0), limit + 1, dist)
                    while mask:
                        j = b0 + np.int64(trailing_zeros(mask))
                        mask &= mask - np.uint64(1)
                        d = _distance(q_words, db, j)
                        if d > limit:
                            continue
                        rank = ranks[d] + 1
                        ranks[d] = rank
                        left -= 1
                        if left == 0:
                            limit = -1
                        elif rank == deepest:
                            limit = d - 1
                        if not _relevant(q_labels, db_labels, j):
                            continue
                        found[d] += 1
                        precision = found[d] / rank
                        for c in range(num_cuts - 1, -1, -1):
                            if rank > cutoffs[c]:
                                break
                            q_hits[c] += 1
                            if is_map[c]:
                                q_ap[c] += precision
                depth[qi], todo[qi] = limit, left


@njit(cache=True, nogil=True)
def harmonic_gap(x: float, n: int) -> float:
    """sum_{i<n} 1/(x+i) = psi(x+n) - psi(x), accurate to a few ulps also when n << x."""
    total = 0.0
    if n <= 64:
        for i in range(n):
            total += 1.0 / (x + i)
        return total
    while x < 32.0:
        total += 1.0 / x
        x += 1.0
        n -= 1
    y = x + n
    ix2, iy2 = 1.0 / (x * x), 1.0 / (y * y)
    series = (0.5 / x - 0.5 / y) + (ix2 - iy2) / 12.0 - (ix2 * ix2 - iy2 * iy2) / 120.0
    series += (ix2 * ix2 * ix2 - iy2 * iy2 * iy2) / 252.0
    return total + math.log1p(n / x) + series


@njit(cache=True, nogil=True)
def expected_gain(n: int, r: int, before_all: int, before_rel: int) -> float:
    """E[sum over relevant items of precision at their rank] for a group of n items, r relevant, ranked
    after ``before_all`` items (``before_rel`` relevant), over all orders of the group (McSherry-Najork).

    Position i (0-based) is relevant with probability r/n and then has, on average, i(r-1)/(n-1)
    relevant items before it in the group.
    """
    if r == 0:
        return 0.0
    x = before_all + 1.0
    spread = harmonic_gap(x, n)
    total = (before_rel + 1.0) * spread
    if n > 1:
        total += (r - 1.0) / (n - 1.0) * (n - x * spread)
    return r / n * total


@njit(cache=True, nogil=True)
def tie_aware_ap(hist: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """Expected AP@k over all orders of the items tied at each distance, per query and cut-off.

    Groups inside the cut-off contribute their expected gain; the group the cut-off splits gives a
    hypergeometric number x of relevant items to the top k, and AP@k = gain / (relevant before + x)
    is averaged over x exactly (the normaliser depends on x, so the ratio is taken inside).
    """
    num_queries, groups, _ = hist.shape
    out = np.zeros((num_queries, cutoffs.shape[0]))
    for qi in range(num_queries):
        for c in range(cutoffs.shape[0]):
            k = cutoffs[c]
            items = 0
            relevant = 0
            gain = 0.0
            for d in range(groups):
                n = hist[qi, d, 0] + hist[qi, d, 1]
                r = hist[qi, d, 1]
                if n == 0:
                    continue
                if items + n <= k:
                    gain += expected_gain(n, r, items, relevant)
                    items += n
                    relevant += r
                    if items == k:
                        break
                    continue
                out[qi, c] = _split_group_ap(n, r, k - items, items, relevant, gain)
                items = -1
                break
            if items >= 0 and relevant > 0:
                out[qi, c] = gain / relevant
    return out


@njit(cache=True, nogil=True)
def _split_group_ap(n: int, r: int, m: int, before_all: int, before_rel: int, gain: float) -> float:
    """E[AP@k] when the first m of a group of n (r relevant) complete the top k."""
    low = max(0, m - (n - r))
    high = min(m, r)
    log_p = _log_choose(r, low) + _log_choose(n - r, m - low) - _log_choose(n, m)
    total = 0.0
    for x in range(low, high + 1):
        if before_rel + x > 0:
            total += math.exp(log_p) * (gain + expected_gain(m, x, before_all, before_rel)) / (before_rel + x)
        if x < high:
            log_p += math.log((r - x) * (m - x)) - math.log((x + 1) * (n - r - m + x + 1))
    return total


@njit(cache=True, nogil=True)
def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1.0) - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0)

"""Compiled search kernels: exact top-k with a stable tie-break, radius scans and multi-index hashing,
each a pass of the Hamming primitives over one database chunk (``deephash.hamming``)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from deephash.hamming import BLOCK, QUERY_BLOCK, TILE, Int, bit_count, block_mask, item_distance, trailing_zeros

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
            hist[item_distance(q_words, sample, j)] += 1
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
                        mask = block_mask(q_words, db, b0, BLOCK, t, dist)
                    else:
                        mask = block_mask(q_words, db, b0, t1 - b0, t, dist)
                    while mask:
                        j = b0 + np.int64(trailing_zeros(mask))
                        mask &= mask - np.uint64(1)
                        d = item_distance(q_words, db, j)
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
                    mask = block_mask(q_words, db, b0, m, radius + 1, dist)
                    while mask:
                        j = np.int64(trailing_zeros(mask))
                        mask &= mask - np.uint64(1)
                        c = count[qi]
                        if c < cap:
                            out[qi, c] = (item_distance(q_words, db, b0 + j) << KEY_SHIFT) | (offset + b0 + j)
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
                flips = bit_count(mask)
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
                    d = item_distance(q_words[:, 0], db, item)
                    if d > radius or _found_earlier(db, item, keys, bounds, t, sub_radius):
                        continue
                    if c < cap:
                        out[qi, c] = (d << KEY_SHIFT) | item
                    c += 1
                mask = _next_mask(mask, flips, bounds[t, 1])
                flips = bit_count(mask)
        if c <= cap:
            out[qi, :c].sort()
        count[qi] = c


@njit(cache=True, nogil=True, inline="always")
def _found_earlier(
    db: np.ndarray, item: Int, keys: np.ndarray, bounds: np.ndarray, table: int, sub_radius: int
) -> bool:
    for t in range(table):
        if bit_count(keys[t] ^ _substring(db, item, bounds[t, 0], bounds[t, 1])) <= sub_radius:
            return True
    return False

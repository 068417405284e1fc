"""Compiled evaluation kernels: per-query distance histograms split by relevance, the stable-rank scan
that credits each relevant item at its exact rank, and the tie-aware (expected over tied orders) AP
computed from the histograms alone."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from deephash.hamming import (
    BLOCK,
    KEY_BLOCK,
    QUERY_BLOCK,
    TILE,
    block_keys,
    block_mask,
    item_distance,
    item_relevant,
    trailing_zeros,
)


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
                    block_keys(q_words, db, q_labels, db_labels, b0, m, keys)
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
                    mask = block_mask(q_words, db, b0, min(BLOCK, t1 - b0), limit + 1, dist)
                    while mask:
                        j = b0 + np.int64(trailing_zeros(mask))
                        mask &= mask - np.uint64(1)
                        d = item_distance(q_words, db, j)
                        if d > limit:
                            continue
                        rank = ranks[d] + 1
                        ranks[d] = rank
                        left -= 1
                        if left == 0:
                            limit = -1
                        elif rank == deepest:
                            limit = d - 1
                        if not item_relevant(q_labels, db_labels, j):
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

"""Retrieval metrics over packed binary codes, with exact and documented tie handling.

Ranking: the database sorted by Hamming distance with a stable sort, so items at equal distance
keep database order (the split stage stores the database in a seeded shuffled order, which makes
that order a seeded random tie-break). Relevant: shares at least one label with the query.

- ``map@k``: AP@k = (1/R_k) * sum over relevant ranks r <= k of precision@r, where R_k is the
  number of relevant items in the top k; 0 when R_k = 0. ``all`` ranks the whole database.
- ``map_tieaware@k``: the expected AP@k over all orders of the items tied at each distance
  (McSherry and Najork, ECIR 2008), so it does not depend on the database order at all.
- ``p@N``: the fraction of relevant items among the top N (N clamped to the database size).
- ``precision@r2``: the fraction of relevant items among those within Hamming radius 2; 0 for a
  query with none.
- PR by radius: for each radius r, precision and recall of the items within distance <= r,
  averaged over queries (0 where nothing is retrieved or nothing is relevant).

Engine (``deephash.metric_kernels``): one pass counts, per query, the items and the relevant items at each
distance; everything but the stable ranks follows from those counts (PR, precision within a radius,
the tie-aware AP). A second pass walks the database in order up to the distance holding the deepest
cut-off and places each relevant item at its exact rank. Memory is O(queries x bits), never Q x N.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from deephash import metric_kernels as kernels
from deephash.codes import CodeSet
from deephash.config import TopK
from deephash.errors import DeephashError
from deephash.hamming import label_words, to_words

CHUNK_ROWS = 1 << 20  # database rows per kernel call
QUERY_BATCH = 8192  # queries per pair of passes (bounds the per-query state)


def hamming(query: np.ndarray, database: np.ndarray) -> np.ndarray:
    """Distances [Q, N] (uint16) between packed uint8 codes [Q, B] and [N, B] (for small sets)."""
    if query.shape[1] != database.shape[1]:
        raise DeephashError(
            f"query codes are {query.shape[1] * 8} bits and database codes {database.shape[1] * 8} bits"
        )
    out = np.zeros((len(query), len(database)), dtype=np.uint16)
    for byte in range(query.shape[1]):
        out += np.bitwise_count(query[:, byte, None] ^ database[None, :, byte])
    return out


@dataclass
class RetrievalResult:
    metrics: dict[str, float]
    pr_curve: list[dict[str, float]]  # per radius: radius, precision, recall
    pn_curve: list[dict[str, float]]  # per N: n, precision


def evaluate_codes(
    query: CodeSet,
    database: CodeSet,
    bits: int,
    topk: Sequence[TopK] = (100, 1000, "all"),
    pn: Sequence[int] = (1, 10, 100, 1000),
    radius: int = 2,
    *,
    chunk_rows: int = CHUNK_ROWS,
    query_batch: int = QUERY_BATCH,
) -> RetrievalResult:
    """All metrics of the module docstring for one codes file (chunk sizes change nothing but memory)."""
    n = len(database)
    if len(query) == 0 or n == 0:
        raise DeephashError("cannot evaluate an empty query set or database")
    for name, part in (("query", query), ("database", database)):
        if part.codes.ndim != 2 or part.codes.shape[1] * 8 != bits:
            raise DeephashError(f"{name} codes are {part.codes.shape[-1] * 8} bits wide, not {bits}")
    if query.labels.shape[1] != database.labels.shape[1]:
        raise DeephashError(
            f"query labels have {query.labels.shape[1]} classes, database labels {database.labels.shape[1]}"
        )
    if any(int(v) < 1 for v in pn):
        raise DeephashError(f"evaluate.pn: expected positive integers, got {list(pn)}")
    ks = {k: n if k == "all" else min(int(k), n) for k in topk}
    ns = {int(v): min(int(v), n) for v in sorted(set(pn))}
    chunks = [
        (
            to_words(database.codes[lo : lo + chunk_rows]),
            label_words(database.labels[lo : lo + chunk_rows]),
        )
        for lo in range(0, n, chunk_rows)
    ]
    cutoffs = np.array(sorted(set(ks.values()) | set(ns.values())), np.int64)
    starts = range(0, len(query), query_batch)
    hide = None if len(starts) > 1 else True  # None: a bar on a terminal only; True: none (one batch)
    per_query = [
        _evaluate_batch(
            query.codes[lo : lo + query_batch], query.labels[lo : lo + query_batch], chunks, bits, cutoffs, ks
        )
        for lo in tqdm(starts, desc="evaluate", unit="batch", disable=hide, leave=False)
    ]
    hits = np.concatenate([p[0] for p in per_query])
    ap = np.concatenate([p[1] for p in per_query])
    tie_aware = np.concatenate([p[2] for p in per_query])
    hist = np.concatenate([p[3] for p in per_query])
    column = {int(c): i for i, c in enumerate(cutoffs)}

    q = len(query)
    metrics: dict[str, float] = {f"map@{k}": float(ap[:, column[kk]].sum() / q) for k, kk in ks.items()}
    metrics.update({f"map_tieaware@{k}": float(tie_aware[:, i].sum() / q) for i, k in enumerate(ks)})
    precision, recall = _pr_by_radius(hist)
    metrics[f"precision@r{radius}"] = float(precision[:, min(radius, bits)].sum() / q)
    pn_values = {v: float((hits[:, column[vv]] / vv).sum() / q) for v, vv in ns.items()}
    metrics.update({f"p@{v}": value for v, value in pn_values.items()})
    pr = [
        {"radius": r, "precision": float(precision[:, r].sum() / q), "recall": float(recall[:, r].sum() / q)}
        for r in range(bits + 1)
    ]
    pn_curve = [{"n": v, "precision": value} for v, value in pn_values.items()]
    return RetrievalResult(metrics=metrics, pr_curve=pr, pn_curve=pn_curve)


def _evaluate_batch(
    codes: np.ndarray,
    labels: np.ndarray,
    chunks: list[tuple[np.ndarray, np.ndarray]],
    bits: int,
    cutoffs: np.ndarray,
    ks: dict[TopK, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per query of one batch: relevant items within each cut-off, AP at each cut-off (0 where not a
    mAP cut-off), tie-aware AP for each k, and the (distance, relevance) histogram."""
    q_words, q_labels = to_words(codes), label_words(labels)
    num = q_words.shape[1]
    hist = np.zeros((num, bits + 1, 2), np.int64)
    for words, label_bits in chunks:
        kernels.distance_histograms(q_words, words, q_labels, label_bits, hist)
    per_distance = hist.sum(axis=2)
    last_rank = np.cumsum(per_distance, axis=1) - per_distance  # items ranked before each distance
    last_hit = np.cumsum(hist[:, :, 1], axis=1) - hist[:, :, 1]  # relevant ones among them
    depth = np.argmax(np.cumsum(per_distance, axis=1) >= cutoffs[-1], axis=1).astype(np.int64)
    todo = np.full(num, cutoffs[-1], np.int64)
    is_map = np.isin(cutoffs, list(ks.values()))
    hits = np.zeros((num, len(cutoffs)), np.int64)
    ap_sum = np.zeros((num, len(cutoffs)))
    for words, label_bits in chunks:
        kernels.rank_scan(
            q_words, words, q_labels, label_bits, depth, todo, last_rank, last_hit, cutoffs, is_map, hits, ap_sum
        )
    ap = np.divide(ap_sum, hits, out=np.zeros_like(ap_sum), where=hits > 0)
    tie_aware = kernels.tie_aware_ap(hist, np.array(list(ks.values()), np.int64))
    return hits, ap, tie_aware, hist


def _pr_by_radius(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query and radius r: precision and recall of the items within distance <= r."""
    retrieved = np.cumsum(hist.sum(axis=2), axis=1).astype(np.float64)
    relevant = np.cumsum(hist[:, :, 1], axis=1).astype(np.float64)
    total = relevant[:, -1:]
    precision = np.divide(relevant, retrieved, out=np.zeros_like(relevant), where=retrieved > 0)
    recall = np.divide(relevant, total, out=np.zeros_like(relevant), where=total > 0)
    return precision, recall

"""Retrieval metrics over packed binary codes, with exact and documented tie handling.

Ranking: the database sorted by Hamming distance with a stable sort, so items at equal distance
keep database order (the split stage stores the database in a seeded shuffled order, which makes
that order a seeded random tie-break). Relevant: shares at least one label with the query.

- ``map@k``: AP@k = (1/R_k) * sum over relevant ranks r <= k of precision@r, where R_k is the
  number of relevant items in the top k; 0 when R_k = 0. ``all`` ranks the whole database.
- ``p@N``: the fraction of relevant items among the top N (N clamped to the database size).
- ``precision@r2``: the fraction of relevant items among those within Hamming radius 2; 0 for a
  query with none.
- PR by radius: for each radius r, precision and recall of the items within distance <= r,
  averaged over queries (0 where nothing is retrieved or nothing is relevant).
Queries are processed in chunks, so memory is O(chunk x database), never Q x N floats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from deephash.codes import CodeSet
from deephash.errors import DeephashError

TopK = int | str


def parse_topk(values: Sequence[object], key: str = "evaluate.topk") -> list[TopK]:
    if not values:
        raise DeephashError(f"{key}: the list is empty")
    parsed: list[TopK] = []
    for value in values:
        if value == "all":
            parsed.append("all")
        elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
            parsed.append(value)
        else:
            raise DeephashError(f"{key}: expected positive integers or 'all', got {value!r}")
    return parsed


def hamming(query: np.ndarray, database: np.ndarray) -> np.ndarray:
    """Distances [Q, N] (uint16) between packed uint8 codes [Q, B] and [N, B]."""
    if query.shape[1] != database.shape[1]:
        raise DeephashError(
            f"query codes are {query.shape[1] * 8} bits and database codes {database.shape[1] * 8} bits"
        )
    out = np.zeros((len(query), len(database)), dtype=np.uint16)
    for byte in range(query.shape[1]):
        out += np.bitwise_count(query[:, byte, None] ^ database[None, :, byte])
    return out


def relevance(query_labels: np.ndarray, database_labels: np.ndarray) -> np.ndarray:
    return (query_labels.astype(np.int32) @ database_labels.astype(np.int32).T) > 0


def query_chunks(num_queries: int, database_size: int, budget: int = 16_000_000) -> Iterator[slice]:
    step = max(1, budget // max(database_size, 1))
    for start in range(0, num_queries, step):
        yield slice(start, min(start + step, num_queries))


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
) -> RetrievalResult:
    """All metrics of the module docstring for one codes file."""
    n = len(database)
    if len(query) == 0 or n == 0:
        raise DeephashError("cannot evaluate an empty query set or database")
    ks = {k: n if k == "all" else min(int(k), n) for k in topk}
    ns = {int(v): min(int(v), n) for v in sorted(set(pn))}
    ap_sums = dict.fromkeys(ks, 0.0)
    pn_sums = dict.fromkeys(ns, 0.0)
    if any(v < 1 for v in ns):
        raise DeephashError(f"evaluate.pn: expected positive integers, got {list(pn)}")
    within_sum = 0.0
    pr_precision = np.zeros(bits + 1)
    pr_recall = np.zeros(bits + 1)
    deepest = max(max(ks.values()), max(ns.values(), default=1))
    for rows in query_chunks(len(query), n):
        dist = hamming(query.codes[rows], database.codes)
        rel = relevance(query.labels[rows], database.labels)
        order = np.argsort(dist, axis=1, kind="stable")[:, :deepest]
        ranked = np.take_along_axis(rel, order, axis=1)
        hits = np.cumsum(ranked, axis=1)
        precision_at = hits / np.arange(1, deepest + 1)
        for k, kk in ks.items():
            found = hits[:, kk - 1]
            summed = (precision_at[:, :kk] * ranked[:, :kk]).sum(axis=1)
            ap_sums[k] += float(np.divide(summed, found, out=np.zeros_like(summed), where=found > 0).sum())
        for v, vv in ns.items():
            pn_sums[v] += float((hits[:, vv - 1] / vv).sum())
        # Per-radius counts: retrieved and relevant items at each exact distance, then cumulated.
        retrieved = np.zeros((dist.shape[0], bits + 1))
        relevant = np.zeros((dist.shape[0], bits + 1))
        for r in range(bits + 1):
            at = dist == r
            retrieved[:, r] = at.sum(axis=1)
            relevant[:, r] = (at & rel).sum(axis=1)
        retrieved, relevant = retrieved.cumsum(axis=1), relevant.cumsum(axis=1)
        total = relevant[:, -1:]
        prec = np.divide(relevant, retrieved, out=np.zeros_like(relevant), where=retrieved > 0)
        rec = np.divide(relevant, total, out=np.zeros_like(relevant), where=total > 0)
        pr_precision += prec.sum(axis=0)
        pr_recall += rec.sum(axis=0)
        within_sum += float(prec[:, min(radius, bits)].sum())
    q = len(query)
    metrics: dict[str, float] = {f"map@{k}": ap_sums[k] / q for k in ks}
    metrics[f"precision@r{radius}"] = within_sum / q
    metrics.update({f"p@{v}": pn_sums[v] / q for v in ns})
    pr = [
        {"radius": r, "precision": float(pr_precision[r] / q), "recall": float(pr_recall[r] / q)}
        for r in range(bits + 1)
    ]
    pn_curve = [{"n": v, "precision": pn_sums[v] / q} for v in ns]
    return RetrievalResult(metrics=metrics, pr_curve=pr, pn_curve=pn_curve)

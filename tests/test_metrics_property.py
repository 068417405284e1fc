"""The metrics engine against the README's definitions written the slow way, on codes with heavy ties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import reference_ap
from hypothesis import given, settings
from hypothesis import strategies as st

from deephash.codes import CodeSet
from deephash.metric_kernels import expected_gain, harmonic_gap
from deephash.metrics import evaluate_codes

BITS = [8, 16, 24, 32, 64, 128]


def tied_codes(rng: np.random.Generator, n: int, bits: int, informative: int) -> np.ndarray:
    """Packed codes that differ from one base code in only ``informative`` bit positions: heavy ties."""
    base = rng.integers(0, 2, bits)
    positions = rng.choice(bits, size=min(informative, bits), replace=False)
    signs = np.tile(base, (n, 1))
    signs[:, positions] = rng.integers(0, 2, (n, len(positions)))
    return np.packbits(signs.astype(bool), axis=1)


def reference(query: CodeSet, database: CodeSet, bits: int, ks: list, ns: list[int], radius: int) -> dict:
    """The README's definitions, query by query: full distances, a stable sort, then each metric."""
    n = len(database)
    dist = np.bitwise_count(query.codes[:, None, :] ^ database.codes[None]).sum(-1)
    rel = (query.labels.astype(int) @ database.labels.astype(int).T) > 0
    out: dict[str, list[float]] = {}
    pr_p = np.zeros(bits + 1)
    pr_r = np.zeros(bits + 1)
    for i in range(len(query)):
        order = sorted(range(n), key=lambda j: (dist[i, j], j))
        ranked = rel[i, order]
        for k in ks:
            kk = n if k == "all" else min(k, n)
            hits, total = 0, 0.0
            for rank in range(1, kk + 1):
                if ranked[rank - 1]:
                    hits += 1
                    total += hits / rank
            out.setdefault(f"map@{k}", []).append(total / hits if hits else 0.0)
        for v in ns:
            vv = min(v, n)
            out.setdefault(f"p@{v}", []).append(ranked[:vv].sum() / vv)
        for r in range(bits + 1):
            within = dist[i] <= r
            got = (within & rel[i]).sum()
            pr_p[r] += got / within.sum() if within.sum() else 0.0
            pr_r[r] += got / rel[i].sum() if rel[i].sum() else 0.0
        within = dist[i] <= radius
        out.setdefault(f"precision@r{radius}", []).append((within & rel[i]).sum() / within.sum() if within.any() else 0)
    result = {key: float(np.mean(values)) for key, values in out.items()}
    result["pr_precision"] = pr_p / len(query)
    result["pr_recall"] = pr_r / len(query)
    return result


@st.composite
def problems(draw: st.DrawFn) -> tuple[CodeSet, CodeSet, int, list, list[int]]:
    bits = draw(st.sampled_from(BITS))
    n = draw(st.integers(1, 60))
    q = draw(st.integers(1, 6))
    classes = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    codes = tied_codes(rng, n + q, bits, draw(st.integers(0, 6)))
    labels = (rng.random((n + q, classes)) < draw(st.floats(0.1, 0.7))).astype(np.uint8)
    ks = draw(st.lists(st.integers(1, 70) | st.just("all"), min_size=1, max_size=4, unique=True))
    ns = draw(st.lists(st.integers(1, 70), min_size=1, max_size=3, unique=True))
    query = CodeSet(codes[:q], labels[:q], [f"q{i}" for i in range(q)])
    database = CodeSet(codes[q:], labels[q:], [f"d{i}" for i in range(n)])
    return query, database, bits, ks, ns


@settings(max_examples=60, deadline=None)
@given(problems(), st.integers(0, 3))
def test_metrics_equal_the_slow_definitions(problem, radius):
    query, database, bits, ks, ns = problem
    got = evaluate_codes(query, database, bits, topk=ks, pn=ns, radius=radius)
    want = reference(query, database, bits, ks, ns, radius)
    for key in [f"map@{k}" for k in ks] + [f"p@{v}" for v in ns] + [f"precision@r{radius}"]:
        assert got.metrics[key] == pytest.approx(want[key], abs=1e-12), key
    np.testing.assert_allclose([p["precision"] for p in got.pr_curve], want["pr_precision"], atol=1e-12)
    np.testing.assert_allclose([p["recall"] for p in got.pr_curve], want["pr_recall"], atol=1e-12)
    assert [p["n"] for p in got.pn_curve] == sorted(ns)


@settings(max_examples=15, deadline=None)
@given(problems(), st.integers(4, 25), st.integers(2, 5))
def test_chunked_and_unchunked_are_identical(problem, chunk_rows, query_batch):
    query, database, bits, ks, ns = problem
    whole = evaluate_codes(query, database, bits, topk=ks, pn=ns)
    chunked = evaluate_codes(query, database, bits, topk=ks, pn=ns, chunk_rows=chunk_rows, query_batch=query_batch)
    assert chunked == whole


def brute_force_tie_aware(query: CodeSet, database: CodeSet, k: int) -> float:
    """The mean over every database order of the stable AP@k: the expectation over tie orders."""
    dist = np.bitwise_count(query.codes[:, None, :] ^ database.codes[None]).sum(-1)
    rel = (query.labels.astype(int) @ database.labels.astype(int).T) > 0
    per_query = []
    for i in range(len(query)):
        orders = list(itertools.permutations(range(len(database))))
        per_query.append(np.mean([reference_ap(dist[i, list(o)], rel[i, list(o)], k) for o in orders]))
    return float(np.mean(per_query))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 7), st.integers(0, 3))
def test_tie_aware_map_is_the_expectation_over_tie_orders(seed, n, k, informative):
    rng = np.random.default_rng(seed)
    codes = tied_codes(rng, n + 2, 8, informative)
    labels = (rng.random((n + 2, 3)) < 0.4).astype(np.uint8)
    query = CodeSet(codes[:2], labels[:2], ["a", "b"])
    database = CodeSet(codes[2:], labels[2:], [str(i) for i in range(n)])
    got = evaluate_codes(query, database, 8, topk=[k], pn=[1]).metrics[f"map_tieaware@{k}"]
    assert got == pytest.approx(brute_force_tie_aware(query, database, min(k, n)), abs=1e-12)


def test_tie_aware_equals_stable_map_without_ties(rng):
    signs = np.array([[int(b) for b in f"{i:08b}"] for i in [0, 1, 3, 7, 15, 31, 63, 127, 255]])
    codes = np.packbits(signs.astype(bool), axis=1)  # distances 0..8 to code 0: no two tied
    labels = rng.integers(0, 2, (9, 2)).astype(np.uint8)
    labels[0] = 1
    query = CodeSet(codes[:1], labels[:1], ["q"])
    database = CodeSet(codes[1:], labels[1:], [str(i) for i in range(8)])
    m = evaluate_codes(query, database, 8, topk=[3, "all"], pn=[1]).metrics
    assert m["map_tieaware@3"] == pytest.approx(m["map@3"], abs=1e-15)
    assert m["map_tieaware@all"] == pytest.approx(m["map@all"], abs=1e-15)


def test_tie_aware_hand_computed():
    # One group of 3 items at distance 0, one relevant, k = 1: the relevant item is first with
    # probability 1/3, so E[AP@1] = 1/3; with k = all every order gives AP = 1/rank: (1 + 1/2 + 1/3) / 3.
    codes = np.zeros((4, 1), np.uint8)
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.uint8)
    query = CodeSet(codes[:1], labels[:1], ["q"])
    database = CodeSet(codes[1:], labels[1:], ["a", "b", "c"])
    m = evaluate_codes(query, database, 8, topk=[1, "all"], pn=[1]).metrics
    assert m["map_tieaware@1"] == pytest.approx(1 / 3)
    assert m["map_tieaware@all"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert m["map@1"] == 1.0  # the stable order puts the relevant item (database row 0) first


@pytest.mark.parametrize("x", [1.0, 7.0, 31.5, 1e3, 1e7])
@pytest.mark.parametrize("n", [1, 64, 65, 500, 20000])
def test_harmonic_gap_is_accurate(x, n):
    exact = sum(1.0 / (x + i) for i in range(n))  # float rounding here is ~n ulps, far below the tolerance
    assert harmonic_gap(x, n) == pytest.approx(exact, rel=1e-12)


def test_expected_gain_of_a_large_group_matches_the_direct_sum():
    n, r, before, before_rel = 300, 40, 10**6, 123
    direct = sum(r / n * (before_rel + 1 + i * (r - 1) / (n - 1)) / (before + 1 + i) for i in range(n))
    assert expected_gain(n, r, before, before_rel) == pytest.approx(direct, rel=1e-11)

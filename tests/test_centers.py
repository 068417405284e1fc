import numpy as np
import pytest
from conftest import synthetic_similarity

from deephash.centers import (
    AlmConfig,
    alm_fit,
    distance_stats,
    gilbert_varshamov_distance,
    hadamard_rows,
    initial_centers,
    polish,
    repair,
    s_loss,
    semantic_centers,
)
from deephash.errors import DeephashError


@pytest.mark.parametrize(
    ("classes", "expected"),
    [(100, (4, 10, 24)), (196, (4, 10, 23)), (555, (3, 9, 21)), (80, (5, 11, 24))],
)
def test_gilbert_varshamov_table(classes, expected):
    assert tuple(gilbert_varshamov_distance(q, classes) for q in (16, 32, 64)) == expected


def test_gilbert_varshamov_is_smallest_d():
    from math import comb

    for q, c in [(16, 10), (32, 100), (64, 555), (24, 7)]:
        d = gilbert_varshamov_distance(q, c)
        assert sum(comb(q, i) for i in range(d)) * c >= 2**q
        assert sum(comb(q, i) for i in range(d - 1)) * c < 2**q


def test_hadamard_rows_are_orthogonal_or_opposite():
    rows = hadamard_rows(16, 32).astype(int)
    gram = rows @ rows.T
    assert set(np.unique(gram)) <= {-16, 0, 16}
    assert (np.diag(gram) == 16).all()


@pytest.mark.parametrize(("classes", "bits"), [(100, 16), (196, 32), (196, 64), (555, 64), (30, 24)])
def test_initial_centers_meet_the_bound(classes, bits):
    d = gilbert_varshamov_distance(bits, classes)
    centers = initial_centers(classes, bits, d, seed=0)
    assert centers.shape == (classes, bits)
    assert set(np.unique(centers)) == {-1, 1}
    assert distance_stats(centers)[0] >= d


def test_repair_fixes_a_collapsed_set(rng):
    centers = np.ones((12, 16), dtype=np.int8)
    fixed = repair(centers, 5, rng)
    assert distance_stats(fixed)[0] >= 5


def test_repair_refuses_an_impossible_bound(rng):
    with pytest.raises(DeephashError):
        repair(np.ones((3, 8), dtype=np.int8), 9, rng)


@pytest.mark.parametrize(("classes", "bits"), [(10, 16), (40, 32), (100, 64)])
def test_semantic_centers_fit_s_and_keep_distance(classes, bits):
    s = synthetic_similarity(classes)
    centers, report = semantic_centers(s, bits, seed=0)
    assert centers.dtype == np.int8 and set(np.unique(centers)) == {-1, 1}
    assert report.min_distance >= report.d == gilbert_varshamov_distance(bits, classes)
    assert report.s_loss["polished"] == pytest.approx(s_loss(s, centers))
    assert report.s_loss["polished"] < report.s_loss["init"]
    assert report.s_loss["polished"] <= report.s_loss["optimised"] <= report.s_loss["init"]


def test_semantic_centers_are_deterministic():
    s = synthetic_similarity(30)
    a, _ = semantic_centers(s, 32, seed=3)
    b, _ = semantic_centers(s, 32, seed=3)
    assert np.array_equal(a, b)


def test_polish_delta_formula_matches_recomputed_loss():
    """Every accepted flip must lower the exact loss: polishing is monotone and feasible."""
    s = synthetic_similarity(20, seed=1)
    d = gilbert_varshamov_distance(32, 20)
    init = initial_centers(20, 32, d, seed=0)
    polished = polish(s, init, d)
    assert s_loss(s, polished) < s_loss(s, init)
    assert distance_stats(polished)[0] >= d
    # a local optimum: no single feasible flip lowers the loss further
    best = s_loss(s, polished)
    for i in range(20):
        for b in range(32):
            trial = polished.copy()
            trial[i, b] *= -1
            if distance_stats(trial)[0] >= d:
                assert s_loss(s, trial) >= best - 1e-12


def test_alm_never_breaks_the_bound_and_never_worsens():
    s = synthetic_similarity(50, seed=2)
    d = gilbert_varshamov_distance(16, 50)
    init = initial_centers(50, 16, d, seed=0)
    fitted = alm_fit(s, init, d, AlmConfig(cycles=10))
    assert distance_stats(fitted)[0] >= d
    assert s_loss(s, fitted) <= s_loss(s, init)


def test_ablation_variants():
    s = synthetic_similarity(40)
    distance_only, r1 = semantic_centers(s, 32, variant="distance_only")
    assert r1.s_loss == {"init": pytest.approx(s_loss(s, distance_only))}
    _semantic_only, r2 = semantic_centers(s, 32, variant="semantic_only")
    _full, r3 = semantic_centers(s, 32)
    # without the bound the fit can only be as good or better
    assert r2.s_loss["polished"] <= r3.s_loss["polished"] + 1e-12
    assert r1.min_distance >= r1.d and r3.min_distance >= r3.d


def test_bad_similarity_is_rejected():
    with pytest.raises(DeephashError, match="square"):
        semantic_centers(np.zeros((3, 4)), 16)
    with pytest.raises(DeephashError, match="variant"):
        semantic_centers(np.eye(3), 16, variant="nope")


def test_polish_is_a_local_optimum_under_paired_flips():
    """No feasible pair of flips within one centre lowers the loss after the descent."""
    s = synthetic_similarity(8, seed=3)
    d = gilbert_varshamov_distance(16, 8)
    polished = polish(s, initial_centers(8, 16, d, seed=0), d)
    best = s_loss(s, polished)
    for i in range(8):
        for b in range(16):
            for c in range(b + 1, 16):
                trial = polished.copy()
                trial[i, [b, c]] *= -1
                if distance_stats(trial)[0] >= d:
                    assert s_loss(s, trial) >= best - 1e-12


def test_annealed_search_never_returns_worse_than_its_start():
    s = synthetic_similarity(30, seed=4)
    d = gilbert_varshamov_distance(16, 30)
    start = polish(s, initial_centers(30, 16, d, seed=0), d)
    searched = polish(s, start, d, rounds=50, kick=4, temperature=0.01, seed=1)
    assert s_loss(s, searched) <= s_loss(s, start)
    assert distance_stats(searched)[0] >= d


def test_gv_guarantee_is_one_below_the_released_codes_d():
    from math import comb

    from deephash.centers import gv_guaranteed_distance

    assert gv_guaranteed_distance(16, 100) == 3 and gilbert_varshamov_distance(16, 100) == 4
    assert 2**16 // sum(comb(16, i) for i in range(4)) == 94  # what GV guarantees at d = 4
    for q, c in [(16, 10), (32, 100), (64, 555), (24, 7), (8, 200)]:
        d = gv_guaranteed_distance(q, c)
        assert sum(comb(q, i) for i in range(d)) * c <= 2**q < sum(comb(q, i) for i in range(d + 1)) * c
        assert gilbert_varshamov_distance(q, c) == d + 1


def test_more_classes_than_codes_is_refused_with_the_length_that_works():
    with pytest.raises(DeephashError, match=r"300 classes .* 8 bits .* smallest code length that works is 16 bits"):
        semantic_centers(np.eye(300), 8)


def test_an_unreachable_d_falls_back_to_the_largest_reached():
    # 200 codes of 8 bits 2 apart do not exist (at most 128: the even-weight code); d = 1 does
    centers, report = semantic_centers(np.eye(200), 8, config=AlmConfig(cycles=1), polish_flips=False)
    assert (report.d_requested, report.d, report.min_distance) == (2, 1, 1)
    assert "fell back to d = 1" in (report.fallback_note() or "")
    assert len({row.tobytes() for row in centers}) == 200

"""CSQ's data-independent centres: Hadamard rows when they suffice, thresholded random rows otherwise."""

import numpy as np
import pytest
import scipy.linalg

from deephash.centers import distance_stats
from deephash.errors import DeephashError
from deephash.methods import method_class
from deephash.methods.csq import csq_centers


@pytest.mark.parametrize(("classes", "bits"), [(10, 16), (32, 16), (10, 64), (100, 64)])
def test_centres_are_rows_of_hadamard_and_its_negation_when_classes_fit(classes, bits):
    centers, info = csq_centers(classes, bits)
    h = scipy.linalg.hadamard(bits)
    assert info["construction"] == "hadamard"
    np.testing.assert_array_equal(centers, np.concatenate([h, -h])[:classes])
    min_dist, _ = distance_stats(centers)
    assert min_dist == bits // 2  # rows of H (and of -H) are orthogonal: exactly q/2 apart


def test_random_centres_meet_the_thresholds_when_classes_outnumber_2q():
    classes, bits = 150, 64  # 150 > 2 * 64: no Hadamard construction
    centers, info = csq_centers(classes, bits, seed=0, trials=20)
    assert info["construction"] == "balanced_random" and info["thresholds_met"]
    min_dist, mean_dist = distance_stats(centers)
    assert min_dist > bits / 4 and mean_dist >= bits / 2
    assert info["draws"] > 1  # the first draw failed and was redrawn: the thresholds bite
    assert (centers.sum(axis=1) == 0).all()  # balanced: half the bits are -1


def test_non_power_of_two_lengths_take_random_centres():
    centers, info = csq_centers(10, 24, trials=50)
    assert info["construction"] == "balanced_random" and info["thresholds_met"] and centers.shape == (10, 24)
    assert distance_stats(centers)[0] > 24 / 4


def test_unmet_thresholds_are_reported_and_the_best_draw_kept():
    # 200 balanced 16-bit codes: some pair is always <= 4 bits apart, no draw can pass
    centers, info = csq_centers(200, 16, seed=0, trials=3)
    assert info == {"construction": "balanced_random", "draws": 3, "thresholds_met": False}
    assert centers.shape == (200, 16)


def test_centres_are_seeded():
    a, _ = csq_centers(50, 16, seed=1, trials=2)
    b, _ = csq_centers(50, 16, seed=1, trials=2)
    c, _ = csq_centers(50, 16, seed=2, trials=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_build_centers_validates_its_params():
    csq = method_class("csq")
    with pytest.raises(DeephashError, match=r"csq\.centers\.variant: unknown key"):
        csq.build_centers(10, 16, None, {"variant": "semantic"})
    with pytest.raises(DeephashError, match=r"csq\.centers\.trials: must be >= 1"):
        csq.build_centers(40, 16, None, {"trials": 0})
    centers, info = csq.build_centers(10, 16, np.eye(10), {})  # S is ignored
    assert info["construction"] == "hadamard" and centers.shape == (10, 16)


def test_unmet_thresholds_come_with_a_warning():
    csq = method_class("csq")
    _, info = csq.build_centers(100, 8, None, {"trials": 2})
    (note,) = info["warnings"]
    assert "none of 2 draws met CSQ's thresholds" in note and "two classes share a centre" in note
    _, info = csq.build_centers(10, 16, None, {})
    assert "warnings" not in info


def test_more_classes_than_codes_is_refused():
    with pytest.raises(DeephashError, match="smallest code length that works is 16 bits"):
        csq_centers(257, 8)

"""Collapse diagnostics by hand."""

import numpy as np
import pytest

from deephash.diagnostics import bucket_stats
from deephash.errors import DeephashError


def test_bucket_stats_hand_computed():
    # four 8-bit codes: three identical, one other; bit 0 is 1 everywhere, bits 1-7 are 1 in one code
    codes = np.array([[0b10000000], [0b10000000], [0b10000000], [0b11111111]], dtype=np.uint8)
    distinct, largest, imbalance = bucket_stats(codes)
    assert distinct == 2 and largest == 0.75
    # bit 0: mean of +-1 is 1; bits 1-7: (1 - 3) / 4 = -0.5, |.| = 0.5
    assert imbalance == pytest.approx((1 + 7 * 0.5) / 8)


def test_balanced_distinct_codes():
    codes = np.packbits(np.array([[1, 0] * 4, [0, 1] * 4]), axis=1)
    assert bucket_stats(codes) == (2, 0.5, 0.0)


def test_bad_codes():
    with pytest.raises(DeephashError, match="packed uint8"):
        bucket_stats(np.zeros((0, 2), dtype=np.uint8))
    with pytest.raises(DeephashError, match="packed uint8"):
        bucket_stats(np.zeros((3, 16), dtype=np.int8))

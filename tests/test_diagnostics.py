"""Collapse diagnostics: the bucket counts and bit balance, checked on codes built by hand."""

import numpy as np
import pytest

from deephash.codes import pack_codes
from deephash.diagnostics import bucket_stats
from deephash.errors import DeephashError


def test_a_collapsed_set_is_one_bucket_of_constant_bits():
    packed = np.zeros((10, 2), np.uint8)
    assert bucket_stats(packed, 16) == {"distinct_codes": 1.0, "largest_bucket": 1.0, "bit_imbalance": 1.0}


def test_counts_and_imbalance_by_hand():
    # 4 codes of 8 bits: two equal, bit 0 set in 3 of 4 codes, bit 1 in 2 of 4, the other 6 bits never
    bits = np.zeros((4, 8))
    bits[[0, 1, 2], 0] = 1
    bits[[0, 1], 1] = 1
    stats = bucket_stats(pack_codes(bits * 2 - 1), 8)
    assert stats["distinct_codes"] == 3 and stats["largest_bucket"] == 0.5
    assert stats["bit_imbalance"] == pytest.approx((0.5 + 0 + 6 * 1) / 8)


def test_balanced_distinct_codes(rng):
    signs = rng.choice([-1.0, 1.0], size=(4096, 32))
    stats = bucket_stats(pack_codes(signs), 32)
    assert stats["distinct_codes"] == 4096 and stats["largest_bucket"] == 1 / 4096
    assert stats["bit_imbalance"] < 0.05


def test_wrong_width_is_refused():
    with pytest.raises(DeephashError, match="packed codes of 32 bits"):
        bucket_stats(np.zeros((3, 2), np.uint8), 32)

"""Collapse diagnostics of a set of binary codes: how many distinct codes, how crowded the fullest
bucket, how unbalanced the bits. A method that maps most images to a few codes can still score a
non-zero mAP; these numbers show it at a glance (the report flags a crowded bucket)."""

from __future__ import annotations

import numpy as np

from deephash.errors import DeephashError


def bucket_stats(packed_codes: np.ndarray, bits: int) -> dict[str, float]:
    """Diagnostics of packed uint8 codes [N, bits / 8].

    - ``distinct_codes``: the number of different codes (buckets) among the N.
    - ``largest_bucket``: the fraction of the N that share the most common code.
    - ``bit_imbalance``: the mean over bits of ``|p_j - 0.5| * 2``, p_j the fraction of codes whose
      bit j is 1; 0 when every bit splits the set in half, 1 when every bit is constant.
    """
    if packed_codes.ndim != 2 or len(packed_codes) == 0 or packed_codes.shape[1] * 8 != bits:
        raise DeephashError(
            f"expected non-empty packed codes of {bits} bits, got an array of shape {packed_codes.shape}"
        )
    _, counts = np.unique(packed_codes, axis=0, return_counts=True)
    ones = np.unpackbits(packed_codes, axis=1, count=bits).mean(axis=0)
    return {
        "distinct_codes": float(len(counts)),
        "largest_bucket": float(counts.max() / len(packed_codes)),
        "bit_imbalance": float(np.abs(ones - 0.5).mean() * 2),
    }

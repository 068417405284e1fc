"""Collapse diagnostics of a set of codes: how many distinct codes, how full the largest bucket, how
unbalanced the bits. A method that maps most images to a few codes can still score on a weak metric;
these numbers expose it (see the protocol notes on collapse)."""

from __future__ import annotations

import numpy as np

from deephash.errors import DeephashError


def bucket_stats(codes: np.ndarray) -> tuple[int, float, float]:
    """(distinct codes, largest bucket's fraction of the rows, mean |bit mean| in [0, 1]) of packed
    uint8 codes [N, bits / 8]; a bit's mean is taken over +-1 values, so 0 is a perfectly balanced bit."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype != np.uint8 or len(codes) == 0:
        raise DeephashError(
            f"bucket_stats needs non-empty packed uint8 codes [N, bytes], got {codes.dtype} {codes.shape}"
        )
    _, counts = np.unique(codes, axis=0, return_counts=True)
    ones = np.unpackbits(codes, axis=1).mean(axis=0)
    return len(counts), float(counts.max() / len(codes)), float(np.abs(2 * ones - 1).mean())

"""CSQ: Central Similarity Quantization (Yuan et al., CVPR 2020).

Data-independent centres: rows of [H; -H] (H a Sylvester Hadamard matrix) when there are at most
2q classes and q is a power of two; otherwise balanced random rows, redrawn until the minimum and
mean pairwise distances pass CSQ's thresholds. Training uses the centre loss shared with SHC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deephash.centers import balanced_random, check_capacity, distance_stats, hadamard_rows, is_power_of_two
from deephash.config import check_keys
from deephash.errors import DeephashError
from deephash.methods.base import register_method
from deephash.methods.hash_centers import CenterMethod

CENTER_DEFAULTS: dict[str, Any] = {"seed": 0, "trials": 20, "min_ratio": 0.25, "mean_ratio": 0.5}


def csq_centers(
    num_classes: int, bits: int, seed: int = 0, trials: int = 20, min_ratio: float = 0.25, mean_ratio: float = 0.5
) -> tuple[np.ndarray, dict[str, Any]]:
    """CSQ's centres and how they were made (``hadamard``, or the random draw that was kept).

    Random draws must have minimum distance > ``min_ratio`` * q and mean >= ``mean_ratio`` * q; if
    none of ``trials`` draws passes, the draw with the largest minimum (then mean) is kept and the
    report says so.
    """
    check_capacity(num_classes, bits)
    if num_classes <= 2 * bits and is_power_of_two(bits):
        return hadamard_rows(bits, num_classes), {"construction": "hadamard", "thresholds_met": True}
    rng = np.random.default_rng(seed)
    best, best_key, passed, used = None, (-1, -1.0), False, 0
    for used in range(1, trials + 1):  # noqa: B007
        draw = balanced_random(num_classes, bits, rng)
        min_dist, mean_dist = distance_stats(draw)
        if (min_dist, mean_dist) > best_key:
            best, best_key = draw, (min_dist, mean_dist)
        if min_dist > min_ratio * bits and mean_dist >= mean_ratio * bits:
            best, passed = draw, True
            break
    assert best is not None
    return best, {"construction": "balanced_random", "draws": used, "thresholds_met": passed}


@register_method("csq")
class CSQ(CenterMethod):
    @classmethod
    def build_centers(
        cls, num_classes: int, bits: int, similarity: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        check_keys(params, CENTER_DEFAULTS, "csq.centers")
        options = {**CENTER_DEFAULTS, **params}
        if options["trials"] < 1:
            raise DeephashError(f"csq.centers.trials: must be >= 1, got {options['trials']}")
        centers, info = csq_centers(num_classes, bits, **options)
        if not info["thresholds_met"]:
            min_dist, mean_dist = distance_stats(centers)
            shared = ", so two classes share a centre" if min_dist == 0 else ""
            note = (
                f"none of {info['draws']} draws met CSQ's thresholds (min distance > {options['min_ratio']} x {bits},"
                f" mean >= {options['mean_ratio']} x {bits}): kept the best, min distance {min_dist}{shared},"
                f" mean {mean_dist:.2f}"
            )
            info = {**info, "warnings": [note]}
        return centers, info

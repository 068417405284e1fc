"""The `centers` pre-stage (run by stages/prestage.py): a centre method's hash centres at one code
length (SHC stage 2 for `shc`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from deephash.atomic import atomic_path
from deephash.centers import check_capacity, distance_stats, gilbert_varshamov_distance, read_similarity, s_loss
from deephash.data.split import read_split
from deephash.errors import DeephashError
from deephash.methods import HashingMethod
from deephash.methods.hash_centers import CenterMethod, centers_file


def write_centers(
    cls: type[HashingMethod], bits: int, split: str, similarity_path: Path, params: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Write ``centers-<bits>.npy`` under ``out``; returns the report (d, distances, S_loss). More
    classes than codes is refused before anything is built; the method's warnings go to stderr."""
    if not issubclass(cls, CenterMethod):
        raise DeephashError(f"methods: {cls.name} trains without hash centres")
    classes = read_split(split).train.classes
    try:
        check_capacity(len(classes), bits)
    except DeephashError as exc:
        raise exc.located(split) from None
    similarity = read_similarity(similarity_path, len(classes))
    start = time.perf_counter()
    centers, info = cls.build_centers(len(classes), bits, similarity, params)
    for note in info.pop("warnings", []):
        print(f"deephash: warning: {cls.name}-{bits}: {note}", file=sys.stderr)
    seconds = time.perf_counter() - start  # printed, not a metric: metrics files stay byte-identical per params
    centers = centers.astype(np.int8)
    min_dist, mean_dist = distance_stats(centers)
    report = {
        "classes": len(classes),
        "d": gilbert_varshamov_distance(bits, len(classes)),
        "min_distance": min_dist,
        "mean_distance": mean_dist,
        "s_loss": s_loss(similarity, centers),
        **info,
    }
    with atomic_path(centers_file(out, bits)) as tmp, tmp.open("wb") as f:
        np.save(f, centers)
    summary = f"d {report['d']}, min {min_dist}, mean {mean_dist:.2f}, S_loss {report['s_loss']:.4f}"
    print(f"centers {cls.name}-{bits}: {summary} ({seconds:.1f} s)")
    return report

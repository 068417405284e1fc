"""The `pseudo_similarity` pre-stage (SSDH's; run by stages/prestage.py): confident similar /
dissimilar training pairs from image features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deephash.atomic import atomic_path
from deephash.data.arrays import load_arrays
from deephash.data.split import read_split
from deephash.methods.ssdh import (
    PSEUDO_FILE,
    PseudoSimilarityConfig,
    image_features,
    label_agreement,
    pseudo_similarity,
)
from deephash.models import create_backbone


def write_pseudo_similarity(split_dir: str, cache: str, params: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write the pseudo-similarity under ``out``; returns the fit and its agreement with the labels."""
    config = PseudoSimilarityConfig.from_params(params)
    split = read_split(split_dir)
    data = load_arrays(cache, split.train, "train")
    backbone = None
    if config.features == "backbone":
        backbone = create_backbone(in_channels=data.channels, key="ssdh.pseudo_similarity.backbone", **config.backbone)
    features = image_features(data, config.features, backbone, config.batch_size)
    pseudo, stats = pseudo_similarity(features, config.alpha, config.beta, config.bins)
    with atomic_path(Path(out) / PSEUDO_FILE) as tmp, tmp.open("wb") as f:
        np.save(f, pseudo)
    report = {"features": config.features, "images": len(data), **stats, **label_agreement(pseudo, data.labels)}
    print(
        f"pseudo_similarity: {stats['similar_fraction']:.3f} similar, {stats['dissimilar_fraction']:.3f} dissimilar;"
        f" {report['similar_precision']:.3f} of the similar pairs share a class"
    )
    return report

"""The `pseudo_similarity` pre-stage (SSDH's; run by stages/prestage.py): unit image features and
the thresholds that turn their cosine distances into confident similar / dissimilar training pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deephash.atomic import atomic_path, write_json
from deephash.data.arrays import load_arrays
from deephash.data.split import read_split
from deephash.methods.features import feature_extractor, image_features
from deephash.methods.ssdh import (
    FEATURES_FILE,
    THRESHOLDS_FILE,
    PseudoSimilarityConfig,
    fit_thresholds,
    pair_report,
    unit_rows,
)
from deephash.models import create_backbone


def write_pseudo_similarity(split_dir: str, cache: str, params: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write the features and thresholds under ``out``; returns the fit and its agreement with the labels."""
    config = PseudoSimilarityConfig.from_params(params)
    split = read_split(split_dir)
    data = load_arrays(cache, split.train, "train")
    backbone = None
    if config.features == "backbone":
        backbone = create_backbone(in_channels=data.channels, key="ssdh.pseudo_similarity.backbone", **config.backbone)
    extractor = feature_extractor(config.features, backbone)
    with atomic_path(Path(out) / FEATURES_FILE) as tmp:  # memory-mapped: the features never sit in RAM
        unit = unit_rows(image_features(extractor, data, batch_size=config.batch_size, path=tmp))
        stats = fit_thresholds(unit, config.alpha, config.beta, config.bins)
        report = {"features": config.features, "images": len(data), **stats, **pair_report(unit, stats, data.labels)}
        if isinstance(unit, np.memmap):
            unit.flush()
        del unit
    write_json(Path(out) / THRESHOLDS_FILE, stats)
    print(
        f"pseudo_similarity: {report['similar_fraction']:.3f} similar, {report['dissimilar_fraction']:.3f} dissimilar;"
        f" {report['similar_precision']:.3f} of the similar pairs share a class"
    )
    return report

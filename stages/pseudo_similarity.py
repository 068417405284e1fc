"""Stage `pseudo_similarity` (SSDH's pre-stage): confident similar / dissimilar training pairs from image features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common import load_params, parser, run, section
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


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="data/split")
    p.add_argument("--cache", default="data/cache")
    p.add_argument("--out", default="targets/ssdh", help="targets directory of ssdh (default: %(default)s)")
    p.add_argument("--report", default="metrics/pseudo_similarity.json", help="the fit, and its agreement with labels")
    args = p.parse_args()
    config = PseudoSimilarityConfig.from_params(dict(section(load_params(args.params), "ssdh.pseudo_similarity")))
    split = read_split(args.split)
    data = load_arrays(args.cache, split.train, "train")
    backbone = None
    if config.features == "backbone":
        backbone = create_backbone(in_channels=data.channels, key="ssdh.pseudo_similarity.backbone", **config.backbone)
    extractor = feature_extractor(config.features, backbone)
    unit = unit_rows(image_features(extractor, data, batch_size=config.batch_size))
    stats = fit_thresholds(unit, config.alpha, config.beta, config.bins)
    with atomic_path(Path(args.out) / FEATURES_FILE) as tmp, tmp.open("wb") as f:
        np.save(f, unit)
    write_json(Path(args.out) / THRESHOLDS_FILE, stats)
    report = {"features": config.features, "images": len(data), **stats, **pair_report(unit, stats, data.labels)}
    write_json(Path(args.report), report)
    print(
        f"pseudo_similarity: {report['similar_fraction']:.3f} similar, {report['dissimilar_fraction']:.3f} dissimilar;"
        f" {report['similar_precision']:.3f} of the similar pairs share a class"
    )


if __name__ == "__main__":
    run(main)

"""Stage `similarity` (SHC stage 1): train a classifier and derive the class similarity S."""

from __future__ import annotations

from pathlib import Path

from common import live_callback, load_params, parser, run, section
from deephash.atomic import atomic_path, write_json


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="data/split")
    p.add_argument("--cache", default="data/cache")
    p.add_argument("--out", default="data/similarity", help="S.npy and S.png (default: %(default)s)")
    p.add_argument("--metrics", default="metrics/similarity.json")
    p.add_argument("--live", default="dvclive/similarity", help="DVCLive directory for the classifier curves")
    args = p.parse_args()
    # imported once the arguments parse: --help answers without loading torch, numba or matplotlib
    import numpy as np

    from deephash.data.arrays import load_arrays
    from deephash.data.split import read_split
    from deephash.models import create_backbone
    from deephash.report import similarity_heatmap
    from deephash.similarity import classifier_similarity, machine_independent
    from deephash.train import TrainConfig, seed_everything

    params = dict(section(load_params(args.params), "similarity"))
    backbone_params = dict(params.pop("backbone"))
    mask, order = params.pop("mask"), params.pop("order")
    config = TrainConfig.from_params(params, "similarity")
    split = read_split(args.split)
    data = load_arrays(args.cache, split.train, "train")
    seed_everything(config.seed)  # the network's initial weights come from the seed too
    backbone = create_backbone(in_channels=data.channels, key="similarity.backbone", **backbone_params)
    with live_callback(args.live, "classifier") as log:
        s, stats = classifier_similarity(data, backbone, config, mask=mask, order=order, callback=log)
    s = machine_independent(s)  # the centres read S: its last bits must not depend on the CPU
    with atomic_path(args.out, directory=True) as tmp:
        with (tmp / "S.npy").open("wb") as f:
            np.save(f, s)
        similarity_heatmap(s, split.train.classes, tmp / "S.png")
    off = s[~np.eye(len(s), dtype=bool)]
    write_json(
        Path(args.metrics),
        {
            **stats,
            "offdiag_mean": float(off.mean()),
            "offdiag_max": float(off.max()),
            "asymmetry": float(np.abs(s - s.T).max()),
        },
    )
    print(f"similarity: classifier train accuracy {stats['train_accuracy']:.3f}, S {s.shape}")


if __name__ == "__main__":
    run(main)

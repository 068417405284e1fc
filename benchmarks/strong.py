"""The stronger setting beside the fast default: ResNet-18 from scratch on digit-pairs upscaled x4.

The default's small CNN on 8x16 images measures the methods at a small network's budget; here the
same split trains torchvision's ResNet-18 (no pretrained weights) on the images resized to 32x64
(bilinear, the whole image: no crop cuts a digit), RMSprop at lr 1e-3 for a fixed 60 epochs, as an
independent CSQ (DeepHash-pytorch) was run on this split. The real stages run under `dvc repro` in
a fresh copy of the project (benchmarks/pipeline.py's), for every seed of the `seeds` axis: the seed varies
the network's initialisation and batch order; the split, SHC's class similarity and the centres stay
those of seed 0. Prints mAP@all per method x bits as mean ± sample sd (n), and the wall time.
Cost: one ResNet-18 epoch of the 1,500 training images took ~29 CPU-s (8-18 s wall on 2 lightly
loaded cores), so each method x bits x seed trains for roughly 10-20 minutes; SHC adds its classifier.
Usage: python benchmarks/strong.py [--seeds 0 1 2] [--bits 32] [--methods shc csq] [-S key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import yaml
from pipeline import bench_repo, finish, sh

SETTING = [
    "cache.size=[32, 64]",
    "train.backbone={name: resnet18, weights: none}",
    "similarity.backbone={name: resnet18, weights: none}",
    "train.optimizer=rmsprop",
    "train.lr=1.0e-3",
]
EPOCHS = 60  # also set per method: the default's `<method>.train.epochs` budgets are the small CNN's


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.3f} ± {sd:.3f} (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the `seeds` axis")
    parser.add_argument("--bits", type=int, nargs="+", default=[32])
    parser.add_argument("--methods", nargs="+", default=["shc", "csq"])
    parser.add_argument("--threads", type=int, default=1, help="train.threads and similarity.threads")
    parser.add_argument("-S", "--set-param", action="append", default=[], help="more overrides, e.g. train.pad=0")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository (its path is printed)")
    args = parser.parse_args()
    overrides = [
        *SETTING,
        f"methods={args.methods}",
        f"bits={args.bits}",
        f"seeds={args.seeds}",
        f"train.epochs={EPOCHS}",
        *(f"{m}.train.epochs={EPOCHS}" for m in args.methods),
        f"train.threads={args.threads}",
        f"similarity.threads={args.threads}",
        *args.set_param,
    ]
    repo = bench_repo(overrides)
    params_file = repo / "params.yaml"
    keys = [f"{m}-{b}" for m in args.methods for b in args.bits]
    start = time.perf_counter()
    sh([sys.executable, "-m", "dvc", "repro", *(f"evaluate@{key}-{seed}" for key in keys for seed in args.seeds)], repo)
    scores = {
        key: [json.loads((repo / "metrics" / f"{key}-{seed}.json").read_text())["map@all"] for seed in args.seeds]
        for key in keys
    }
    total = time.perf_counter() - start
    params = yaml.safe_load(params_file.read_text())
    train = params["train"]
    setting = (
        f"{train['backbone']['name']} (weights {train['backbone']['weights']}), cache.size {params['cache']['size']},"
        f" {train['optimizer']} lr {train['lr']}, {train['epochs']} epochs"
    )
    print(f"\nmAP@all on the query set, {setting}; seeds {args.seeds}")
    print(f"{'method':<10}" + "".join(f"{f'{b} bits':>26}" for b in args.bits))
    for m in args.methods:
        print(f"{m:<10}" + "".join(f"{mean_sd(scores[f'{m}-{b}']):>26}" for b in args.bits))
    print(f"wall time {total:.0f} s ({total / 60:.1f} min) on {os.cpu_count()} cores, train.threads {args.threads}")
    finish(repo, args.keep)


if __name__ == "__main__":
    main()

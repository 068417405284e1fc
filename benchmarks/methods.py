"""Train time of every method at every code length on the default pipeline, side by side with SHC's.

The prerequisites (split, cache, similarity, centres, pseudo-similarity) run first, untimed; then
each `train@<method>-<bits>` stage runs alone under `dvc repro --single-item` in a fresh copy of
the project. References measured in the same run: SHC's train stage at the same code length, and
the start-up cost every stage pays (a Python process importing torch and deephash).
Usage: python benchmarks/methods.py [-S key=value ...]   (overrides as for `dvc exp run -S`)
"""

from __future__ import annotations

import argparse
import os
import shutil

import yaml
from pipeline import bench_repo, stage_order, startup_seconds, time_stage

REFERENCE = "shc"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-S", "--set-param", action="append", default=[], help="params override, e.g. bits=[16]")
    args = parser.parse_args()
    repo = bench_repo(args.set_param)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    methods, bits = list(params["methods"]), list(params["bits"])
    if REFERENCE not in methods:
        methods.insert(0, REFERENCE)
        (repo / "params.yaml").write_text(yaml.safe_dump({**params, "methods": methods}, sort_keys=False))
    order = stage_order(repo)
    for stage in order:
        if not stage.startswith(("train@", "export@", "evaluate@", "report")):
            time_stage(repo, stage)
    startup = startup_seconds(repo)
    seconds = {m: {b: time_stage(repo, f"train@{m}-{b}") for b in bits} for m in methods}

    print(f"reference: python start-up with torch + deephash imported = {startup:.2f} s; {os.cpu_count()} cores")
    header = "".join(f"{f'{b} bits':>10}{'x shc':>7}" for b in bits)
    print(f"{'train stage':<12}{header}{'total s':>10}")
    for m in methods:
        cells = "".join(f"{seconds[m][b]:>10.1f}{seconds[m][b] / seconds[REFERENCE][b]:>7.2f}" for b in bits)
        print(f"{m:<12}{cells}{sum(seconds[m].values()):>10.1f}")
    print(f"all train stages: {sum(sum(s.values()) for s in seconds.values()):.1f} s")
    shutil.rmtree(repo.parent, ignore_errors=True)


if __name__ == "__main__":
    main()

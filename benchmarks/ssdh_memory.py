"""Peak memory and time of SSDH's pre-stage fit on a synthetic feature matrix.

The fit streams over blocks of ``BLOCK`` rows of the N x N cosine-distance matrix: its working set is
O(BLOCK x N) beside the features, where the dense matrix (float32) alone is 4 N^2 bytes. Each step
runs in a fresh process so its peak RSS is its own; the reference is the process that only holds the
features, with the same modules (torch) imported. Usage: python benchmarks/ssdh_memory.py [--images 20000] [--dims 512]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

STEP = """
import json, resource, sys, time
import numpy as np
n, dims, step = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
features = np.random.default_rng(0).normal(size=(n, dims)).astype(np.float32) + 0.5
labels = np.eye(100, dtype=np.uint8)[np.arange(n) % 100]
from deephash.methods.ssdh import fit_thresholds, pair_report, unit_rows  # torch: in the reference too
start = time.perf_counter()
if step != "features":
    unit = unit_rows(features)
    stats = fit_thresholds(unit)
    if step == "report":
        pair_report(unit, stats, labels)
seconds = time.perf_counter() - start
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds}))
"""


def measure(images: int, dims: int, step: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", STEP, str(images), str(dims), step], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--dims", type=int, default=512)
    args = p.parse_args()
    reference = measure(args.images, args.dims, "features")
    dense_mb = 4 * args.images**2 / 2**20
    print(f"{args.images} x {args.dims} features; a dense float32 N x N matrix would be {dense_mb:.0f} MB")
    print(f"reference (features only): peak RSS {reference['rss_mb']:.0f} MB")
    for step in ("fit", "report"):
        r = measure(args.images, args.dims, step)
        extra = r["rss_mb"] - reference["rss_mb"]
        print(
            f"{step:>6}: peak RSS {r['rss_mb']:.0f} MB ({extra:+.0f} MB over the reference,"
            f" {extra / dense_mb:.2f}x the dense matrix), {r['seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()

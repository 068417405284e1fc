"""Stage `centers@<method>-<bits>`: the method's hash centres (SHC stage 2 for `shc`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from common import check_bits, load_params, matrix_parser, run, section
from deephash.atomic import atomic_path, write_json
from deephash.centers import distance_stats, gilbert_varshamov_distance, s_loss
from deephash.data.split import read_split
from deephash.errors import DeephashError
from deephash.methods import method_class
from deephash.methods.hash_centers import CenterMethod, centers_file


def main() -> None:
    p = matrix_parser(__doc__)
    p.add_argument("--similarity", default="data/similarity/S.npy")
    p.add_argument("--out", required=True, help="targets directory of the method (targets/<method>)")
    p.add_argument("--report", required=True, help="JSON report (d, distances, S_loss)")
    args = p.parse_args()
    bits = check_bits(args.bits)
    cls = method_class(args.method)
    if not issubclass(cls, CenterMethod):
        raise DeephashError(f"methods: {args.method} trains without hash centres; it has no centers stage")
    params = dict(section(load_params(args.params), f"{args.method}.centers"))
    classes = read_split(args.split).train.classes
    similarity = np.load(args.similarity)
    if similarity.shape != (len(classes), len(classes)):
        raise DeephashError(f"S is {similarity.shape}, the split has {len(classes)} classes", path=args.similarity)
    start = time.perf_counter()
    centers, info = cls.build_centers(len(classes), bits, similarity, params)
    seconds = time.perf_counter() - start  # printed, not a metric: metrics files stay byte-identical per params
    centers = centers.astype(np.int8)
    min_dist, mean_dist = distance_stats(centers)
    report = {
        "method": args.method,
        "bits": bits,
        "classes": len(classes),
        "d": gilbert_varshamov_distance(bits, len(classes)),
        "min_distance": min_dist,
        "mean_distance": mean_dist,
        "s_loss": s_loss(similarity, centers),
        **info,
    }
    with atomic_path(centers_file(args.out, bits)) as tmp, tmp.open("wb") as f:
        np.save(f, centers)
    write_json(Path(args.report), report)
    summary = f"d {report['d']}, min {min_dist}, mean {mean_dist:.2f}, S_loss {report['s_loss']:.4f}"
    print(f"centers {args.method}-{bits}: {summary} ({seconds:.1f} s)")


if __name__ == "__main__":
    run(main)

"""mAP evaluation at scale: deephash's metrics engine beside the peers' per-query loop, in one run.

Synthetic multi-label data shaped like COCO: 80 labels, one to four per image, codes made from the
labels' random centres with a fraction of the bits flipped. The reference is the per-query loop of
the DeepHash-pytorch family (+-1 float codes, a matmul per query, an argsort of the whole database,
mAP@k normalised by the hits within k), timed with its default (unstable) sort and with a stable
sort, whose value deephash must equal to 1e-12; "x loop" is the speed-up over the loop as they run
it (the faster, unstable one). deephash computes every metric of the evaluate stage in the same
call (P@N, PR by radius, precision within radius 2, the tie-aware mAP), in this process and as a
whole ``python -m deephash evaluate`` process on a codes file (start-up and kernel loading included,
every default metric), the way a user runs it.

Usage: python benchmarks/evaluate.py [--queries 5000] [--database 100000] [--bits 64] [--k 1000]
       [--tie-range]   (also the best and worst tie orders: two more runs of the loop)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from search import measured
from threadpoolctl import threadpool_limits

from deephash.atomic import JSON_DIGITS, rounded
from deephash.codes import CodeSet, CodesFile, pack_codes, unpack_codes, write_codes
from deephash.metrics import evaluate_codes


def synthetic(rng: np.random.Generator, n: int, bits: int, classes: int, flip: float) -> CodeSet:
    labels = np.zeros((n, classes), np.uint8)
    for i, count in enumerate(rng.integers(1, 5, n)):
        labels[i, rng.choice(classes, count, replace=False)] = 1
    centres = np.random.default_rng(0).choice([-1.0, 1.0], size=(classes, bits))
    signs = np.sign(labels @ centres + 0.5 * centres[0])  # ties of the sum broken by one fixed centre
    signs[rng.random(signs.shape) < flip] *= -1
    return CodeSet(pack_codes(signs), labels, [str(i) for i in range(n)])


def peers_map(query: CodeSet, database: CodeSet, bits: int, k: int, order: str) -> float:
    """mAP@k the per-query way; ``order`` ranks ties: quicksort (theirs), stable, best or worst.

    One BLAS thread: a matrix-vector product per query gains nothing from more, and on a shared
    machine spinning BLAS threads made the loop four times slower (the baseline at its best)."""
    with threadpool_limits(1, user_api="blas"):
        return _peers_map(query, database, bits, k, order)


def _peers_map(query: CodeSet, database: CodeSet, bits: int, k: int, order: str) -> float:
    db_signs = unpack_codes(database.codes, bits).astype(np.float32)
    db_labels = database.labels.astype(np.float32)
    total = 0.0
    for signs, labels in zip(unpack_codes(query.codes, bits).astype(np.float32), query.labels, strict=True):
        relevant = (db_labels @ labels.astype(np.float32) > 0).astype(np.float32)
        distance = 0.5 * (bits - db_signs @ signs)
        if order in ("quicksort", "stable"):
            ranked = relevant[np.argsort(distance, kind=order)][:k]
        else:  # relevant items first (best) or last (worst) within each distance
            ranked = relevant[np.lexsort((relevant if order == "worst" else -relevant, distance))][:k]
        hits = ranked.sum()
        if hits == 0:
            continue
        positions = np.flatnonzero(ranked) + 1.0
        total += float(np.mean(np.arange(1, hits + 1) / positions))
    return total / len(query)


def whole_process(query: CodeSet, database: CodeSet, bits: int, k: int, threads: int) -> tuple[dict, float, float]:
    """(metrics, seconds, peak MiB) of ``python -m deephash evaluate`` on a codes file of these codes, with
    the default k and N lists (plus ``k``); the file is written before the clock starts."""
    with tempfile.TemporaryDirectory() as tmp:
        codes, out = Path(tmp) / "codes.h5", Path(tmp) / "metrics.json"
        write_codes(codes, CodesFile(query, database, bits, "synthetic", "synthetic"))
        topk = [*dict.fromkeys(["100", "1000", str(k)]), "all"]
        cmd = [sys.executable, "-m", "deephash", "evaluate", "--codes", str(codes), "--out", str(out), "--topk", *topk]
        t0 = time.perf_counter()
        subprocess.run(
            cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "NUMBA_NUM_THREADS": str(threads)}
        )
        seconds = time.perf_counter() - t0
        return json.loads(out.read_text()), seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--database", type=int, default=100_000)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--flip", type=float, default=0.2, help="fraction of code bits flipped at random")
    parser.add_argument("--tie-range", action="store_true", help="also the best and worst tie orders")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="deephash's threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    query = synthetic(rng, args.queries, args.bits, args.classes, args.flip)
    database = synthetic(rng, args.database, args.bits, args.classes, args.flip)
    k, q, bits = args.k, args.queries, args.bits
    head = CodeSet(database.codes[:100], database.labels[:100], database.ids[:100])
    evaluate_codes(head, head, bits)  # loads (or compiles) the kernels before any timing
    print(f"mAP@{k}: {q:,} queries x {args.database:,} database, {bits}-bit codes, {args.classes} labels (multi-hot)")
    print(f"  {'method':<52}{'seconds':>9}{'queries/s':>11}{'x loop':>8}{'peak MiB':>10}  mAP@{k}")
    quick, loop, mib = measured(lambda: peers_map(query, database, bits, k, "quicksort"))

    def line(name: str, value: float, seconds: float, mib: float) -> None:
        print(f"  {name:<52}{seconds:>9.2f}{q / seconds:>11,.0f}{loop / seconds:>8.1f}{mib:>10,.0f}  {value:.6f}")

    line("peers' loop as they run it (default argsort)", quick, loop, mib)
    stable, seconds, mib = measured(lambda: peers_map(query, database, bits, k, "stable"))
    line("peers' loop, stable argsort (the README's definition)", stable, seconds, mib)
    result, seconds, mib = measured(lambda: evaluate_codes(query, database, bits, topk=[k], pn=[k]))
    line(f"deephash evaluate_codes (map@{k}, p@{k}, PR, r2, tie-aware)", result.metrics[f"map@{k}"], seconds, mib)
    full, seconds, mib = measured(lambda: evaluate_codes(query, database, bits, topk=[100, 1000, "all"]))
    line("deephash, the stage's k list (100, 1000, all)", full.metrics[f"map@{k}"], seconds, mib)
    whole, seconds, mib = whole_process(query, database, bits, k, args.threads)
    line("python -m deephash evaluate: whole process, every metric", whole[f"map@{k}"], seconds, mib)
    print(f"  tie-aware mAP@{k} (expected over tie orders): {result.metrics[f'map_tieaware@{k}']:.6f}")
    if args.tie_range:
        best = peers_map(query, database, bits, k, "best")
        worst = peers_map(query, database, bits, k, "worst")
        print(f"  best / worst tie order: {best:.6f} / {worst:.6f}")
    difference = abs(result.metrics[f"map@{k}"] - stable)
    print(f"  |deephash - stable loop| = {difference:.2e}: {'identical' if difference <= 1e-12 else 'DIFFERENT'}")
    same = whole[f"map@{k}"] == rounded(stable)  # the metrics file holds JSON_DIGITS significant digits
    print(
        f"  whole process {whole[f'map@{k}']!r} vs the stable loop to {JSON_DIGITS} digits {rounded(stable)!r}: "
        f"{'identical' if same else 'DIFFERENT'}"
    )


if __name__ == "__main__":
    main()

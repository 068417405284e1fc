"""SHC stage 2: deephash's centres against the released SHC code, on the same similarity matrices.

The similarity matrices are synthetic but shaped like stage 1's output (classes in superclasses of 5,
rows centred and scaled to [-1, 1], symmetrised, diagonal 1). For each class count and code length
it prints, side by side, S_loss and wall time of deephash's semantic_centers and, when the released
code is available (``--official DIR`` holding its GenerateSemanticHashCenters.py, e.g. from a checkout
of cc752424640/Deep-Hashing-with-Semantic-Hash-Centers-for-Image-Retrieval), of that code run on the
same S, with the ratio deephash / official. The released code takes minutes per run from ~100 classes
(its MDS initialisation), so the default sizes are small; pass --classes 100 196 for the issue's goal
sizes. Without --official only deephash runs. Last, it times a whole `python -m deephash centers`
process (start-up included, as the DVC stage pays it) for 196 classes at 64 bits.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import synthetic_similarity

from deephash.centers import distance_stats, gilbert_varshamov_distance, s_loss, semantic_centers


def official_centers(module_dir: Path, similarity: np.ndarray, bits: int) -> tuple[np.ndarray, float]:
    import torch

    spec = importlib.util.spec_from_file_location("shc_official", module_dir / "GenerateSemanticHashCenters.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = SimpleNamespace(code_length=bits, num_classes=len(similarity), dataset="bench", device=torch.device("cpu"))
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        os.chdir(tmp)
        try:
            start = time.perf_counter()
            h = module.GenerateSemanticHashCenters(args, torch.tensor(similarity, dtype=torch.float32))
            seconds = time.perf_counter() - start
        finally:
            os.chdir(cwd)
    return np.asarray(h.T, dtype=np.int8), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--official", type=Path, help="directory with the released GenerateSemanticHashCenters.py")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic similarity matrices")
    args = parser.parse_args()
    header = f"{'C':>4} {'bits':>4} {'d':>3} | {'deephash S_loss':>15} {'min d':>5} {'s':>6}"
    if args.official:
        header += f" | {'official S_loss':>15} {'min d':>5} {'s':>7} | {'S_loss ratio':>12} {'speed-up':>8}"
    print(header)
    ratios = []
    for classes in args.classes:
        s = synthetic_similarity(classes, seed=args.seed)
        for bits in args.bits:
            d = gilbert_varshamov_distance(bits, classes)
            start = time.perf_counter()
            _, report = semantic_centers(s, bits, seed=0)
            ours_s = time.perf_counter() - start
            loss = report.s_loss["polished"]
            line = f"{classes:>4} {bits:>4} {d:>3} | {loss:>15.4f} {report.min_distance:>5} {ours_s:>6.2f}"
            if args.official:
                theirs, theirs_s = official_centers(args.official, s, bits)
                their_loss = s_loss(s, theirs)
                ratio = report.s_loss["polished"] / their_loss
                ratios.append(ratio)
                line += (
                    f" | {their_loss:>15.4f} {distance_stats(theirs)[0]:>5} {theirs_s:>7.1f}"
                    f" | {ratio:>12.3f} {theirs_s / ours_s:>7.0f}x"
                )
            print(line, flush=True)
    if ratios:
        print(f"S_loss deephash / official: worst {max(ratios):.3f}, mean {np.mean(ratios):.3f} (goal <= 0.75)")
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "S.npy", synthetic_similarity(196, seed=args.seed))
        command = [sys.executable, "-m", "deephash", "centers", "--similarity", f"{tmp}/S.npy", "--bits", "64"]
        start = time.perf_counter()
        subprocess.run([*command, "--out", f"{tmp}/c.npy"], check=True, capture_output=True)
        print(f"whole `python -m deephash centers` process, 196 classes, 64 bits: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()

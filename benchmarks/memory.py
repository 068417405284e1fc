"""Peak memory and time of every stage of the data path, at two dataset sizes, as separate processes.

Writes synthetic JPEG class folders (an ``imagefolder`` dataset: a few hundred distinct random
pictures, each file a copy of one of them, so writing 50,000 takes seconds), then runs the stages
with ``dvc repro --single-item`` in a fresh copy of the project (benchmarks/pipeline.py's
``bench_repo``): split, cache, SHC's and SSDH's pre-stages, a short training run, export and
evaluate. A poller reads /proc of the stage's processes every 0.1 s and prints, per stage and size:

  anon MB   peak anonymous resident memory (the stage's own arrays: what must stay bounded; the
            memory-mapped cache is file-backed and not in it)
  rss MB    peak resident set (VmHWM), file-backed pages of the memory-mapped cache included
  s         wall time of the stage's processes

and the ratio large/small of each, beside the ratio of the sizes themselves (the reference: a stage
whose memory ratio stays at or below it grows at most linearly).
Usage: python benchmarks/memory.py [--sizes 5000 50000] [--side 224] [--stages split cache ...]
A stage whose processes hold more than --kill-mb of anonymous memory is killed and reported as such.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pipeline import bench_repo, sh

STAGES = [
    "split",
    "cache",
    "similarity",
    "centers@shc-16",
    "pseudo_similarity",
    "train@shc-16",
    "train@ssdh-16",
    "export@shc-16",
    "export@ssdh-16",
    "evaluate@shc-16",
    "evaluate@ssdh-16",
]


def write_folder(root: Path, count: int, classes: int, distinct: int, side: int) -> None:
    """``count`` JPEGs in ``classes`` folders, copies of ``distinct`` random pictures ~``side`` px."""
    rng = np.random.default_rng(0)
    pictures = []
    for _ in range(distinct):
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((side * 4 // 3, side), Image.Resampling.BICUBIC))
        noisy = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
        path = root / "picture.jpg"
        root.mkdir(parents=True, exist_ok=True)
        Image.fromarray(noisy).save(path, quality=90)
        pictures.append(path.read_bytes())
    path.unlink()
    for c in range(classes):
        (root / f"class{c:03d}").mkdir()
    for i in range(count):
        (root / f"class{i % classes:03d}" / f"{i:06d}.jpg").write_bytes(pictures[i % distinct])


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    children = [int(x) for x in f.read().split()]
                found += children
                todo += children
        except OSError:
            continue  # it just exited
    return found


def status_kb(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = (line.split() for line in f)
            return {row[0].rstrip(":"): int(row[1]) for row in fields if len(row) == 3 and row[2] == "kB"}
    except OSError:
        return {}


@dataclass
class Peak:
    anon_mb: float = 0.0
    rss_mb: float = 0.0
    seconds: float = 0.0
    outcome: str = "ok"


def run_stage(repo: Path, stage: str, kill_mb: float) -> Peak:
    """``dvc repro --single-item stage``, with the peak memory of the processes dvc starts (dvc's own
    process is not counted: it is the same at every size)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = ["nice", "-n", "10", sys.executable, "-m", "dvc", "repro", "--single-item", stage]
    process = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, first_seen, last_seen = Peak(), 0.0, 0.0
    while process.poll() is None:
        statuses = [status_kb(pid) for pid in descendants(process.pid)]
        statuses = [s for s in statuses if s]
        if statuses:
            now = time.perf_counter()
            first_seen, last_seen = first_seen or now, now
            anon = sum(s.get("RssAnon", 0) for s in statuses) / 1024
            peak.anon_mb = max(peak.anon_mb, anon)
            peak.rss_mb = max(peak.rss_mb, max(s.get("VmHWM", 0) for s in statuses) / 1024)
            if anon > kill_mb:
                os.kill(process.pid, signal.SIGINT)
                for pid in descendants(process.pid):
                    os.kill(pid, signal.SIGKILL)
                peak.outcome = f"killed above {kill_mb:.0f} MB"
        time.sleep(0.1)
    output = process.stdout.read() if process.stdout else ""
    peak.seconds = last_seen - first_seen
    if process.returncode and peak.outcome == "ok":
        peak.outcome = f"failed: {output.strip().splitlines()[-1] if output.strip() else process.returncode}"
    return peak


def measure(args: argparse.Namespace, size: int, scratch: Path) -> dict[str, Peak]:
    images = scratch / f"images-{size}"
    t0 = time.perf_counter()
    write_folder(images, size, args.classes, args.distinct, args.side + args.side // 7)
    print(f"{size} JPEGs written in {time.perf_counter() - t0:.1f} s", flush=True)
    overrides = [
        f"dataset={{name: imagefolder, root: {images}}}",
        "split.protocol=per_class",
        f"split.query={args.query}",
        f"split.train={args.train}",
        "split.database=rest",
        f"cache.size={args.side}",
        "methods=[shc, ssdh]",
        "bits=[16]",
        "similarity.epochs=1",
        "train.epochs=1",
        "ssdh.pseudo_similarity.features=pixels",
        "evaluate.topk=[100, all]",
    ]
    repo = bench_repo(overrides)
    sh([sys.executable, "-m", "dvc", "config", "cache.type", "hardlink"], repo)  # no second copy of the cache
    peaks: dict[str, Peak] = {}
    try:
        for stage in args.stages:
            peaks[stage] = run_stage(repo, stage, args.kill_mb)
            p = peaks[stage]
            print(
                f"  {size:>6} {stage:<20} anon {p.anon_mb:7.0f} MB  rss {p.rss_mb:7.0f} MB  {p.seconds:7.1f} s"
                f"  {p.outcome}",
                flush=True,
            )
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
        shutil.rmtree(images, ignore_errors=True)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[5000, 50000])
    parser.add_argument("--side", type=int, default=224, help="cache.size (the JPEGs are a little larger)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--distinct", type=int, default=300, help="distinct pictures the files copy")
    parser.add_argument("--query", type=float, default=0.1, help="split.query, a fraction per class")
    parser.add_argument("--train", type=float, default=0.1, help="split.train, a fraction per class")
    parser.add_argument(
        "--stages",
        nargs="+",
        default=STAGES,
        choices=STAGES,
        metavar="STAGE",
        help=f"a subset of {', '.join(STAGES)}, with what they need",
    )
    parser.add_argument("--kill-mb", type=float, default=8000, help="kill a stage above this anonymous memory")
    parser.add_argument("--scratch", default=None, help="where images and the project copy go (default: $TMPDIR)")
    args = parser.parse_args()
    scratch = Path(args.scratch or os.environ.get("TMPDIR", "/tmp")) / f"deephash-memory-{os.getpid()}"
    scratch.mkdir(parents=True)
    try:
        small, large = (measure(args, size, scratch) for size in args.sizes)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    n0, n1 = args.sizes
    print(f"\n{args.side} px cache; {args.classes} classes; query {args.query}, train {args.train} of each class")
    print(f"reference: size ratio {n1}/{n0} = {n1 / n0:.1f}")
    head = f"{'stage':<20}" + "".join(f"{f'{k} {n}':>15}" for n in (n0, n1) for k in ("anon MB", "rss MB", "s"))
    print(head + f"{'anon x':>9}{'rss x':>8}{'time x':>8}  outcome")
    for stage, a in small.items():
        b = large.get(stage, Peak(outcome="not run"))
        row = f"{stage:<20}" + "".join(
            f"{v:>15.0f}" if i % 3 < 2 else f"{v:>15.1f}"
            for i, v in enumerate((a.anon_mb, a.rss_mb, a.seconds, b.anon_mb, b.rss_mb, b.seconds))
        )
        ratios = (b.anon_mb / max(a.anon_mb, 1), b.rss_mb / max(a.rss_mb, 1), b.seconds / max(a.seconds, 0.1))
        outcome = a.outcome if a.outcome != "ok" else b.outcome
        print(row + "".join(f"{r:>9.1f}" if i == 0 else f"{r:>8.1f}" for i, r in enumerate(ratios)) + f"  {outcome}")


if __name__ == "__main__":
    main()

"""Images/s: decoding + resizing JPEGs into the cache (once) vs streaming training batches from it.

Writes a temporary image folder of photo-sized JPEGs (smooth synthetic pictures, so they compress
like photos), then measures in the same run:
  reference  decode every JPEG at full scale + resize (what a loader without a cache does every epoch)
  cache      build_cache: JPEG draft decoding + resize, in the stage process and with worker processes
  train      the training loop's reads from the cached array (shuffled batches, as ``fit`` draws them)
and prints each as images/s and as a multiple of the reference.
Usage: python benchmarks/cache.py [--images 2000] [--width 500] [--height 375] [--size 224] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deephash.data import create_dataset
from deephash.data.arrays import ImageArrays
from deephash.data.cache import build_cache, fit_square, load_cache
from deephash.data.images import decode_image


def write_photos(root: Path, count: int, width: int, height: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        picture = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        picture.save(folder / f"{i:05d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--size", type=int, default=224, help="cache.size")
    parser.add_argument("--workers", type=int, default=2, help="cache.workers for the parallel run")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="deephash-cache-bench-"))
    try:
        write_photos(tmp / "photos", args.images, args.width, args.height)
        adapter = create_dataset("imagefolder", str(tmp / "photos"))
        catalog = adapter.catalog()
        n = len(catalog)
        rates: dict[str, float] = {}

        t0 = time.perf_counter()
        for source in catalog.sources:
            fit_square(decode_image(tmp / "photos" / source), args.size)
        rates["reference: full decode + resize, per epoch without a cache"] = n / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        build_cache(adapter, catalog, tmp / "cache0.npy", args.size, desc="cache, in process")
        rates["cache build (draft decode + resize), in process"] = n / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        build_cache(adapter, catalog, tmp / "cache1.npy", args.size, desc="cache, workers", workers=args.workers)
        rates[f"cache build, {args.workers} worker processes"] = n / (time.perf_counter() - t0)
        same = (tmp / "cache0.npy").read_bytes() == (tmp / "cache1.npy").read_bytes()

        data = ImageArrays(load_cache(tmp / "cache0.npy"), catalog.labels)
        generator = torch.Generator().manual_seed(0)
        epochs, seen = 3, 0
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator).numpy()
            for start in range(0, n - args.batch + 1, args.batch):
                images, _ = data.tensors(order[start : start + args.batch], torch.device("cpu"))
                seen += len(images)
        rates["training reads from the cache (float batches)"] = seen / (time.perf_counter() - t0)

        reference = next(iter(rates.values()))
        print(f"{n} JPEGs {args.width}x{args.height} -> {args.size}x{args.size}; batches of {args.batch}")
        print(f"{'':<60}{'images/s':>10}{'x reference':>13}")
        for name, rate in rates.items():
            print(f"{name:<60}{rate:>10.0f}{rate / reference:>13.1f}")
        print(f"caches built with and without workers are byte-identical: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

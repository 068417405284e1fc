"""Decode and resize every image of a split once, into a uint8 array the training loop streams.

The array is a ``.npy`` file of shape [N, H, W, C] written through a memory map, so a split larger
than RAM is cached without holding it, and read back with ``np.load(mmap_mode="r")``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap
from PIL import Image
from tqdm import tqdm

from deephash.atomic import atomic_path
from deephash.data.base import Catalog, DatasetAdapter
from deephash.errors import DeephashError

CHUNK = 64  # images per task handed to a decoding worker

#: what ``cache.size`` may be: a square side (0 keeps the native size) or [height, width]
Size = int | tuple[int, int]
#: ``cache.on_bad_image``: stop at the first unreadable image, or leave unreadable images out
BAD_IMAGE_POLICIES = ("fail", "skip")


def parse_size(value: object, key: str = "cache.size") -> Size:
    """``cache.size`` checked: an int >= 0, or [height, width] of positive ints (rectangular images,
    e.g. digit-pairs' 8x16 upscaled to [32, 64] without cropping away a digit)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    raise DeephashError(f"{key}: expected an image side >= 0 (0 = native size) or [height, width] > 0, got {value!r}")


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (bilinear), then centre-crop to ``size`` x ``size``."""
    return fit_shape(image, size, size)


def fit_shape(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (bilinear) until the image just covers ``height`` x ``width``, then centre-crop to it."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    scale = max(height / h, width / w)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    resized = np.asarray(pil.resize((new_w, new_h), Image.Resampling.BILINEAR))
    if resized.ndim == 2:
        resized = resized[:, :, None]
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[top : top + height, left : left + width]


def decoded(adapter: DatasetAdapter, sources: Sequence[str], size: Size) -> Iterator[np.ndarray]:
    if isinstance(size, tuple):
        height, width = size
        return (fit_shape(image, height, width) for image in adapter.read(sources, min(size)))
    return (fit_square(image, size) if size else image for image in adapter.read(sources, size))


def fill(path: Path, adapter: DatasetAdapter, sources: Sequence[str], start: int, size: Size) -> int:
    """Decode ``sources`` straight into rows ``start...`` of the cache file (in this process or a
    worker: the pixels never travel between processes). Returns how many rows were written."""
    array = np.load(path, mmap_mode="r+")
    for offset, image in enumerate(decoded(adapter, sources, size)):
        if image.shape != array.shape[1:]:
            raise DeephashError(
                f"image {sources[offset]!r} decodes to shape {image.shape}, not {array.shape[1:]};"
                " set cache.size to resize every image to one size",
            )
        array[start + offset] = image
    array.flush()
    return len(sources)


def readable(adapter: DatasetAdapter, sources: Sequence[str], size: Size) -> tuple[list[int], list[str]]:
    """The rows of ``sources`` that decode, and one ``<source>: <why>`` line per row that does not.

    Each image is decoded on its own (a second decode of the good ones follows in ``build_cache``):
    the cost of ``on_bad_image: skip``, which the default ``fail`` never pays."""
    kept, bad = [], []
    for row, source in enumerate(sources):
        try:
            next(decoded(adapter, [source], size))
        except DeephashError as exc:
            bad.append(f"{source}: {exc}")
        else:
            kept.append(row)
    return kept, bad


def kept_catalog(catalog: Catalog, cache_dir: str | Path, part: str) -> Catalog:
    """``catalog`` without the images the cache stage skipped (``meta.json``'s ``skipped`` rows):
    the rows of the part's cache file, in order."""
    meta = Path(cache_dir) / "meta.json"
    if not meta.exists():
        return catalog
    import json

    skipped = set(json.loads(meta.read_text(encoding="utf-8")).get("skipped", {}).get(part, []))
    if not skipped:
        return catalog
    return catalog.subset(np.array([i for i in range(len(catalog)) if i not in skipped], dtype=np.int64))


def build_cache(
    adapter: DatasetAdapter, catalog: Catalog, path: str | Path, size: Size, desc: str = "cache", workers: int = 0
) -> tuple[int, ...]:
    """Write the decoded images of ``catalog`` to ``path``; ``size`` 0 keeps the native size, an int
    resizes and centre-crops to a square, (height, width) to that rectangle.

    Returns the array shape; the first image fixes it, so with ``size`` 0 every image must have the
    same shape. With ``workers`` > 0, that many processes decode chunks into the file; the bytes are
    the same either way, and the first bad image in list order is the one reported.
    """
    sources = catalog.sources
    first = next(decoded(adapter, sources[:1], size), None)
    if first is None:
        raise DeephashError("nothing to cache: the split is empty", path=path)
    shape = (len(sources), *first.shape)
    starts = range(1, len(sources), CHUNK)
    with atomic_path(path) as tmp, tqdm(total=len(sources), desc=desc, unit="img", mininterval=2) as bar:
        array = open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        array[0] = first
        array.flush()
        del array
        bar.update(1)
        if workers <= 0:
            for start in starts:
                bar.update(fill(tmp, adapter, sources[start : start + CHUNK], start, size))
            return shape
        context = multiprocessing.get_context("spawn")  # never fork a process that may hold threads
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            jobs = [pool.submit(fill, tmp, adapter, sources[start : start + CHUNK], start, size) for start in starts]
            try:
                for job in jobs:
                    bar.update(job.result())
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
    return shape


def load_cache(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise DeephashError("image cache not found (run the cache stage first)", path=path)
    array = np.load(path, mmap_mode="r")
    if array.dtype != np.uint8 or array.ndim != 4:
        raise DeephashError(f"expected a uint8 [N, H, W, C] array, got {array.dtype} {array.shape}", path=path)
    return array

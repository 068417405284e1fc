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


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (bilinear), then centre-crop to ``size`` x ``size``."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    resized = np.asarray(pil.resize((new_w, new_h), Image.Resampling.BILINEAR))
    if resized.ndim == 2:
        resized = resized[:, :, None]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top : top + size, left : left + size]


def decoded(adapter: DatasetAdapter, sources: Sequence[str], size: int) -> list[np.ndarray]:
    """A chunk of images decoded and fitted to ``size`` (run in a worker process when there are any)."""
    return [fit_square(image, size) if size else image for image in adapter.read(sources, size)]


def decode_all(adapter: DatasetAdapter, sources: Sequence[str], size: int, workers: int) -> Iterator[np.ndarray]:
    """Every image in order; with ``workers`` > 0, chunks are decoded by that many processes.

    The order (and so the cache) does not depend on ``workers``: chunks come back in submission order.
    """
    if workers <= 0:
        yield from decoded(adapter, sources, size)
        return
    chunks = [sources[i : i + CHUNK] for i in range(0, len(sources), CHUNK)]
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for chunk in pool.map(decoded, [adapter] * len(chunks), chunks, [size] * len(chunks)):
            yield from chunk


def build_cache(
    adapter: DatasetAdapter, catalog: Catalog, path: str | Path, size: int, desc: str = "cache", workers: int = 0
) -> tuple[int, ...]:
    """Write the decoded images of ``catalog`` to ``path``; ``size`` 0 keeps the native size.

    Returns the array shape. Every image must decode to the same shape when ``size`` is 0.
    """
    images = decode_all(adapter, catalog.sources, size, workers)
    first = next(images, None)
    if first is None:
        raise DeephashError("nothing to cache: the split is empty", path=path)
    shape = (len(catalog), *first.shape)
    with atomic_path(path) as tmp:
        array = open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        array[0] = first
        for i, image in enumerate(
            tqdm(images, total=len(catalog), initial=1, desc=desc, unit="img", mininterval=2), start=1
        ):
            if image.shape != first.shape:
                raise DeephashError(
                    f"image {catalog.sources[i]!r} decodes to shape {image.shape}, not {first.shape};"
                    " set cache.size to resize every image to one size",
                )
            array[i] = image
        array.flush()
        del array
    return shape


def load_cache(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise DeephashError("image cache not found (run the cache stage first)", path=path)
    array = np.load(path, mmap_mode="r")
    if array.dtype != np.uint8 or array.ndim != 4:
        raise DeephashError(f"expected a uint8 [N, H, W, C] array, got {array.dtype} {array.shape}", path=path)
    return array

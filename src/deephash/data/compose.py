"""Synthetic sets composed from real embedded digits, so multi-label and many-class paths run offline.

The source digits are split into a query pool and a database pool *before* anything is composed:
a composed query never shares a source image with a database image. The pools travel with the
catalogue (``Catalog.pool``) and every protocol honours them. A composed image's source lists the
indices of its digits in the embedded set (``-`` for a blank cell), so the cache rebuilds it exactly.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from deephash.data.base import DatasetAdapter
from deephash.data.digits import digit_images
from deephash.data.mnist5k import mnist_images
from deephash.errors import DeephashError

SOURCES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {"digits": digit_images, "mnist5k": mnist_images}
BLANK = "-"


def query_pool(targets: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask: ``fraction`` of each class's source digits (seeded) form the query pool."""
    pool = np.zeros(len(targets), dtype=bool)
    for c in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == c))
        pool[members[: round(fraction * len(members))]] = True
    return pool


class ComposedDigits(DatasetAdapter):
    """Images composed of embedded digits (``source``: digits, 8x8; or mnist5k, 28x28)."""

    prefix: str

    def __init__(self, root: str | Path | None = None, source: str = "digits", seed: int = 0) -> None:
        super().__init__(root)
        if source not in SOURCES:
            raise DeephashError(f"source: expected one of {list(SOURCES)}, got {source!r}")
        self.source = source
        self.seed = seed

    def digits(self) -> tuple[np.ndarray, np.ndarray]:
        return SOURCES[self.source]()

    def encode(self, cells: Sequence[int]) -> str:
        return self.prefix + ",".join(BLANK if c < 0 else str(c) for c in cells)

    def read(self, sources: Sequence[str], size: int = 0) -> Iterator[np.ndarray]:
        images, _ = self.digits()
        for source in sources:
            if not source.startswith(self.prefix):
                raise DeephashError(f"not a {self.prefix.rstrip(':')} source: {source!r}")
            cells = [-1 if c == BLANK else int(c) for c in source[len(self.prefix) :].split(",")]
            yield self.compose(images, cells)[:, :, None]

    @abstractmethod
    def compose(self, images: np.ndarray, cells: list[int]) -> np.ndarray:
        """One composed grey image [H, W] from source digit indices (-1: blank)."""

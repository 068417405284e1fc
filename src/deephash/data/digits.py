"""scikit-learn's digits: 1,797 real 8x8 handwritten digits shipped inside the wheel (no download)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import Catalog, DatasetAdapter
from deephash.errors import DeephashError

SOURCE_PREFIX = "sklearn-digits:"


@cache
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All digits as uint8 [1797, 8, 8] scaled from 0..16 to 0..255, and their labels 0..9."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return images, bunch.target.astype(np.int64)


def parse_digit_source(source: str) -> int:
    if not source.startswith(SOURCE_PREFIX):
        raise DeephashError(f"not a digits source: {source!r}")
    return int(source[len(SOURCE_PREFIX) :])


@register_dataset("digits")
class Digits(DatasetAdapter):
    layout = "nothing on disk: the images ship inside scikit-learn (sklearn/datasets/data/digits.csv.gz)"
    example = "dvc exp run -S dataset.name=digits"

    def catalog(self) -> Catalog:
        _, targets = digit_images()
        n = len(targets)
        labels = np.zeros((n, 10), dtype=np.uint8)
        labels[np.arange(n), targets] = 1
        return Catalog(
            ids=[f"digits-{i:04d}" for i in range(n)],
            sources=[f"{SOURCE_PREFIX}{i}" for i in range(n)],
            labels=labels,
            classes=[str(d) for d in range(10)],
        )

    def read(self, sources: Sequence[str]) -> Iterator[np.ndarray]:
        images, _ = digit_images()
        for source in sources:
            yield images[parse_digit_source(source)][:, :, None]

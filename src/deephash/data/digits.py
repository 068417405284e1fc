"""scikit-learn's digits: 1,797 real 8x8 handwritten digits shipped inside the wheel (no download)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import Catalog, DatasetAdapter, one_hot
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
    """1,797 real 8x8 handwritten digits, 10 classes (embedded in the scikit-learn wheel)."""

    layout = "nothing on disk: the images ship inside scikit-learn (sklearn/datasets/data/digits.csv.gz)"
    example = "dvc exp run -S dataset.name=digits"

    def catalog(self) -> Catalog:
        _, targets = digit_images()
        n = len(targets)
        return Catalog(
            ids=[f"digits-{i:04d}" for i in range(n)],
            sources=[f"{SOURCE_PREFIX}{i}" for i in range(n)],
            labels=one_hot(targets, 10),
            classes=[str(d) for d in range(10)],
        )

    def read(self, sources: Sequence[str], size: int = 0) -> Iterator[np.ndarray]:
        images, _ = digit_images()
        for source in sources:
            yield images[parse_digit_source(source)][:, :, None]

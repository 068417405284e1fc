"""digit-pairs (synthetic): two real digits side by side; the class is the ordered pair (left, right).

100 classes, more than 2 x 16 and 2 x 32 bits, so CSQ-style centres fall back to random ones,
while classes that share a digit look alike, as CIFAR-100's classes within a superclass do: the
embedded setting in which SHC's semantic centres should matter. Never present it as a benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import Catalog, check_catalog, one_hot
from deephash.data.compose import ComposedDigits, query_pool
from deephash.errors import DeephashError


@register_dataset("digit-pairs")
class DigitPairs(ComposedDigits):
    """Synthetic 100-class single-label set: pairs of real digits, `per_class` images per class."""

    layout = "nothing on disk: composed from the embedded digits (source: digits or mnist5k)"
    example = "dvc exp run -S dataset.name=digit-pairs -S split.query=10 -S split.train=50"
    prefix = "pair:"

    def __init__(
        self,
        root: str | Path | None = None,
        per_class: int = 60,
        query_per_class: int = 10,
        source: str = "digits",
        seed: int = 0,
    ) -> None:
        super().__init__(root, source, seed)
        if not 0 < query_per_class < per_class:
            raise DeephashError(
                f"dataset.digit-pairs: need 0 < query_per_class < per_class, got {query_per_class} and {per_class}"
            )
        self.per_class = per_class
        self.query_per_class = query_per_class

    def catalog(self) -> Catalog:
        """Per class, `query_per_class` pairs from the query pool and the rest from the database pool,
        each an ordered pair of distinct source images drawn without repetition."""
        _, targets = self.digits()
        rng = np.random.default_rng(self.seed)
        in_query = query_pool(targets, self.query_per_class / self.per_class, rng)
        ids: list[str] = []
        sources: list[str] = []
        classes: list[int] = []
        pools: list[str] = []
        counts = {"query": self.query_per_class, "database": self.per_class - self.query_per_class}
        for left in range(10):
            for right in range(10):
                for pool, count in counts.items():
                    allowed = in_query == (pool == "query")
                    lefts = np.flatnonzero((targets == left) & allowed)
                    rights = np.flatnonzero((targets == right) & allowed)
                    if count > len(lefts) * len(rights):
                        raise DeephashError(
                            f"dataset.digit-pairs: class {left}-{right} needs {count} {pool} images but its pool"
                            f" makes only {len(lefts) * len(rights)}; lower per_class"
                        )
                    for pick in rng.choice(len(lefts) * len(rights), size=count, replace=False):
                        ids.append(f"pair-{left}{right}-{len(ids) % self.per_class:03d}")
                        sources.append(self.encode([lefts[pick // len(rights)], rights[pick % len(rights)]]))
                        classes.append(10 * left + right)
                        pools.append(pool)
        catalog = Catalog(
            ids=ids,
            sources=sources,
            labels=one_hot(classes, 100),
            classes=[f"{left}-{right}" for left in range(10) for right in range(10)],
            pool=pools,
            extra={
                "synthetic": {
                    "name": "digit-pairs",
                    "source": self.source,
                    "seed": self.seed,
                    "per_class": self.per_class,
                    "query_per_class": self.query_per_class,
                }
            },
        )
        return check_catalog(catalog, "digit-pairs")

    def compose(self, images: np.ndarray, cells: list[int]) -> np.ndarray:
        return np.concatenate([images[cells[0]], images[cells[1]]], axis=1)

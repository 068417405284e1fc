"""digits-mosaic (synthetic multi-label): 2 x 2 mosaics of real digits; the labels are the digits present.

Each mosaic holds 1 to `max_digits` digits in random cells (the others blank), so labels co-occur
as in COCO or NUS-WIDE rather than being a function of one class. Never present it as a benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import Catalog, check_catalog
from deephash.data.compose import ComposedDigits, query_pool
from deephash.errors import DeephashError


@register_dataset("digits-mosaic")
class DigitsMosaic(ComposedDigits):
    """Synthetic 10-label multi-label set: `query` + `database` 2x2 mosaics of real digits."""

    layout = "nothing on disk: composed from the embedded digits (source: digits or mnist5k)"
    example = (
        "dvc exp run -S dataset.name=digits-mosaic -S split.protocol=random -S split.query=200 -S split.train=1000"
    )
    prefix = "mosaic:"

    def __init__(
        self,
        root: str | Path | None = None,
        query: int = 200,
        database: int = 2000,
        max_digits: int = 4,
        source: str = "digits",
        seed: int = 0,
    ) -> None:
        super().__init__(root, source, seed)
        if query <= 0 or database <= 0 or not 1 <= max_digits <= 4:
            raise DeephashError(
                f"dataset.digits-mosaic: need query > 0, database > 0 and 1 <= max_digits <= 4,"
                f" got {query}, {database}, {max_digits}"
            )
        self.counts = {"query": query, "database": database}
        self.max_digits = max_digits

    def catalog(self) -> Catalog:
        _, targets = self.digits()
        rng = np.random.default_rng(self.seed)
        in_query = query_pool(targets, self.counts["query"] / sum(self.counts.values()), rng)
        sources, pools, rows = [], [], []
        for pool, count in self.counts.items():
            members = np.flatnonzero(in_query == (pool == "query"))
            for _ in range(count):
                n = int(rng.integers(1, self.max_digits + 1))
                cells = np.full(4, -1)
                cells[rng.choice(4, size=n, replace=False)] = rng.choice(members, size=n, replace=False)
                labels = np.zeros(10, dtype=np.uint8)
                labels[targets[cells[cells >= 0]]] = 1
                sources.append(self.encode(cells.tolist()))
                pools.append(pool)
                rows.append(labels)
        catalog = Catalog(
            ids=[f"mosaic-{i:05d}" for i in range(len(sources))],
            sources=sources,
            labels=np.stack(rows),
            classes=[str(d) for d in range(10)],
            pool=pools,
            extra={
                "synthetic": {
                    "name": "digits-mosaic",
                    "source": self.source,
                    "seed": self.seed,
                    **self.counts,
                    "max_digits": self.max_digits,
                }
            },
        )
        return check_catalog(catalog, "digits-mosaic")

    def compose(self, images: np.ndarray, cells: list[int]) -> np.ndarray:
        blank = np.zeros_like(images[0])
        tiles = [images[c] if c >= 0 else blank for c in cells]
        return np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]]])

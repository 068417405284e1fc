"""What every dataset adapter yields: a catalogue of labelled images and a way to decode them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deephash.errors import DeephashError


@dataclass
class Catalog:
    """Every image a dataset offers, before any split.

    ``labels`` is a uint8 multi-hot matrix [N, C] (one-hot for single-label sets); relevance between
    two images is ``labels_a @ labels_b > 0``. ``sources`` say where each image comes from (a path
    under the dataset root, or ``<embedded-set>:<index>``). ``official`` carries the dataset's own
    train/test tag per image where it has one, for the official-split protocols.
    """

    ids: list[str]
    sources: list[str]
    labels: np.ndarray
    classes: list[str]
    official: list[str] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(self.sources) != n or self.labels.shape[0] != n:
            raise ValueError("ids, sources and labels must have the same length")
        if self.labels.ndim != 2 or self.labels.shape[1] != len(self.classes):
            raise ValueError("labels must be [N, number of classes]")
        self.labels = np.ascontiguousarray(self.labels, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def multilabel(self) -> bool:
        return bool((self.labels.sum(axis=1) != 1).any())

    def subset(self, index: np.ndarray) -> Catalog:
        official = [self.official[i] for i in index] if self.official is not None else None
        return Catalog(
            ids=[self.ids[i] for i in index],
            sources=[self.sources[i] for i in index],
            labels=self.labels[index],
            classes=self.classes,
            official=official,
            extra=self.extra,
        )


class DatasetAdapter(ABC):
    """Reads one on-disk (or embedded) format. Subclasses are registered by name in ``data``."""

    #: what the adapter expects on disk, shown by ``python -m deephash datasets``
    layout: str = ""
    #: an example ``dvc exp run`` line for the README and the ``datasets`` command
    example: str = ""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else None

    @abstractmethod
    def catalog(self) -> Catalog:
        """List every image with its labels; raise DeephashError naming the file on bad input."""

    @abstractmethod
    def read(self, sources: Sequence[str]) -> Iterator[np.ndarray]:
        """Decode the images named by ``sources``, in order, as uint8 arrays [H, W, C]."""

    def require_root(self) -> Path:
        if self.root is None or not self.root.exists():
            raise DeephashError(
                f"dataset root does not exist; expected this layout:\n{self.layout}",
                path=self.root if self.root is not None else "dataset.root (empty)",
            )
        return self.root

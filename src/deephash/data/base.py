"""What every dataset adapter yields: a catalogue of labelled images and a way to decode them."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deephash.errors import DeephashError

#: the dataset's own partition tags; an image listed in several parts carries them joined by ``+``
OFFICIAL_TAGS = ("train", "test", "query", "database")
#: source pools of the synthetic sets: a ``query`` image may only be a query, a ``database`` one never
POOLS = ("query", "database")


@dataclass
class Catalog:
    """Every image a dataset offers, before any split.

    ``labels`` is a uint8 multi-hot matrix [N, C] (one-hot for single-label sets); relevance between
    two images is ``labels_a @ labels_b > 0``. ``sources`` say where each image comes from (a path
    under the dataset root, or ``<embedded-set>:<index>``). ``official`` carries the dataset's own
    partition tags per image (see ``OFFICIAL_TAGS``), for the official-split protocols. ``pool`` is
    set by sets composed from shared source images: the protocols draw queries only from the
    ``query`` pool, so no source image is seen by both a query and the database.
    """

    ids: list[str]
    sources: list[str]
    labels: np.ndarray
    classes: list[str]
    official: list[str] | None = None
    pool: list[str] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(self.sources) != n or self.labels.shape[0] != n:
            raise ValueError("ids, sources and labels must have the same length")
        if self.labels.ndim != 2 or self.labels.shape[1] != len(self.classes):
            raise ValueError("labels must be [N, number of classes]")
        for tags, known in ((self.official, OFFICIAL_TAGS), (self.pool, POOLS)):
            if tags is not None and len(tags) != n:
                raise ValueError("official and pool tags must have one entry per image")
            if tags is not None and not {part for tag in set(tags) for part in tag.split("+")} <= set(known):
                raise ValueError(f"tags must be among {known}")
        self.labels = np.ascontiguousarray(self.labels, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def multilabel(self) -> bool:
        return bool((self.labels.sum(axis=1) != 1).any())

    def subset(self, index: np.ndarray) -> Catalog:
        def pick(tags: list[str] | None) -> list[str] | None:
            return [tags[i] for i in index] if tags is not None else None

        return Catalog(
            ids=[self.ids[i] for i in index],
            sources=[self.sources[i] for i in index],
            labels=self.labels[index],
            classes=self.classes,
            official=pick(self.official),
            pool=pick(self.pool),
            extra=self.extra,
        )


def one_hot(targets: Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    targets = np.asarray(targets, dtype=np.int64)
    labels = np.zeros((len(targets), num_classes), dtype=np.uint8)
    labels[np.arange(len(targets)), targets] = 1
    return labels


def check_catalog(catalog: Catalog, where: str | Path) -> Catalog:
    """Refuse what no protocol can split well: no image, a repeated id, a class or an image without a label."""
    if len(catalog) == 0:
        raise DeephashError("no images found", path=where)
    seen: set[str] = set()
    for ident in catalog.ids:
        if ident in seen:
            raise DeephashError(f"duplicate image id {ident!r}", path=where)
        seen.add(ident)
    empty = np.flatnonzero(catalog.labels.sum(axis=0) == 0)
    if len(empty):
        raise DeephashError(f"class {catalog.classes[empty[0]]!r} has no image", path=where)
    unlabelled = np.flatnonzero(catalog.labels.sum(axis=1) == 0)
    if len(unlabelled):
        raise DeephashError(f"image {catalog.ids[unlabelled[0]]!r} has no label", path=where)
    return catalog


class DatasetAdapter(ABC):
    """Reads one on-disk (or embedded) format. Subclasses are registered by name in ``data``.

    Keyword arguments of a subclass's ``__init__`` are its options: ``dataset.<name>.<option>`` in
    params, listed with their defaults by ``python -m deephash datasets``.
    """

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
    def read(self, sources: Sequence[str], size: int = 0) -> Iterator[np.ndarray]:
        """Decode the images named by ``sources``, in order, as uint8 arrays [H, W, C].

        ``size`` is a hint from the cache: an image may come back smaller than its native size as
        long as its shorter side stays >= ``size`` (JPEGs decode faster at a reduced scale).
        """

    def require_root(self) -> Path:
        if self.root is None or not self.root.exists():
            raise DeephashError(
                f"dataset root does not exist; expected this layout: {self.layout}",
                path=self.root if self.root is not None else "dataset.root (empty)",
            )
        return self.root

    def locate(self, folder: str, marker: str) -> Path:
        """The dataset folder: ``root`` itself or ``root/folder``, whichever holds ``marker``."""
        root = self.require_root()
        for base in (root, root / folder):
            if (base / marker).exists():
                return base
        raise DeephashError(f"{marker} not found here or in {folder}/; expected this layout: {self.layout}", path=root)


def adapter_options(adapter: type[DatasetAdapter]) -> dict[str, Any]:
    """An adapter's options and their defaults, read from its ``__init__`` signature."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(adapter.__init__).parameters.items()
        if name not in ("self", "root") and parameter.default is not inspect.Parameter.empty
    }

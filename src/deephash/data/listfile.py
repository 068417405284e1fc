"""Image lists in the HashNet / DeepHash-pytorch format: ``relative/path v1 v2 ... vC`` per line.

One file per part (``train``, ``test`` or ``query``, ``database``: the official split, an image
listed in several parts carries every tag), or one file split by a protocol. Labels are a 0/1
vector (single- or multi-label) or, with ``label_format: index``, one class index (VegFru lists).
Lists carrying absolute paths from their authors' machines are rewritten with ``prefix_from`` /
``prefix_to`` before the path is resolved under the dataset root.

A list may also be a pair of files matched line by line, image paths in one and label vectors in
the other: the SSDH port's FLICKR25K (``[img.txt, targets.txt]``) and NUS-WIDE's parts
(``database: [database_img.txt, database_label_onehot.txt]``, ``test: [...]``, ``train: [...]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import OFFICIAL_TAGS, Catalog, check_catalog
from deephash.data.images import ImageFiles, inside_root, require_files
from deephash.data.textfiles import parse_int, read_lines
from deephash.errors import DeephashError

LABEL_FORMATS = ("vector", "index")
DEEPHASH_LISTS = {"train": "train.txt", "test": "test.txt", "database": "database.txt"}


ListSpec = str | list[str]  # one list file, or [image paths file, label vectors file]


@dataclass
class Line:
    """One image of a list: its path and label fields, with where each was read (for errors)."""

    path: Path
    number: int
    image: str
    label_path: Path
    label_line: int
    labels: list[str]


def listed_lines(root: Path, spec: ListSpec) -> list[Line]:
    """A list's images: from one file of ``path labels...`` lines, or from a pair of files, the
    paths in one (one per line) and the label vectors in the other, matched line by line."""
    if isinstance(spec, str):
        path = root / spec
        lines = read_lines(path)
        if not lines:
            raise DeephashError("the list is empty (an empty split)", path=path)
        return [Line(path, n, text.split()[0], path, n, text.split()[1:]) for n, text in lines]
    images, labels = root / spec[0], root / spec[1]
    paths, vectors = read_lines(images), read_lines(labels)
    if not paths:
        raise DeephashError("the list is empty (an empty split)", path=images)
    if len(paths) != len(vectors):
        raise DeephashError(
            f"{len(paths)} image paths in {images} but {len(vectors)} label vectors in {labels}: the paired"
            " files must have one line per image, in the same order"
        )
    pairs = zip(paths, vectors, strict=True)
    return [Line(images, n, text, labels, m, vector.split()) for (n, text), (m, vector) in pairs]


@dataclass
class Entry:
    path: Path
    line: int
    labels: np.ndarray
    tags: set[str]


def is_spec(spec: object) -> bool:
    if isinstance(spec, str):
        return bool(spec)
    return isinstance(spec, list) and len(spec) == 2 and all(isinstance(f, str) and f for f in spec)


@register_dataset("list")
class ImageList(ImageFiles):
    """Image lists, one line per image: a path under the root and its label vector."""

    layout = (
        "root/<lists>: lines 'relative/path.jpg 0 1 0 ... 1' (C labels of 0/1; single- or multi-label), paths under"
        " root; lists is one file (split by protocol) or a mapping part -> file (train, test|query, database);"
        " a file may be a pair [paths file (one path per line), labels file (one 0/1 vector per line)];"
        " default: DeepHash-pytorch's train.txt, test.txt, database.txt"
    )
    example = (
        "dvc exp run -S dataset.name=list -S dataset.root=/data/nus-wide -S split.protocol=official"
        " -S cache.size=256 -S evaluate.topk=[5000]"
    )

    def __init__(
        self,
        root: str | Path | None = None,
        lists: ListSpec | Mapping[str, ListSpec] | None = None,
        label_format: str = "vector",
        num_classes: int = 0,
        classes: str = "",
        prefix_from: str = "",
        prefix_to: str = "",
    ) -> None:
        super().__init__(root)
        self.lists: ListSpec | dict[str, ListSpec] = (
            dict(DEEPHASH_LISTS) if lists is None else dict(lists) if isinstance(lists, Mapping) else lists
        )
        if label_format not in LABEL_FORMATS:
            raise DeephashError(f"label_format: expected one of {LABEL_FORMATS}, got {label_format!r}")
        specs = list(self.lists.values()) if isinstance(self.lists, dict) else [self.lists]
        if not self.lists or not all(is_spec(spec) for spec in specs):
            raise DeephashError(
                "dataset.list.lists: expected a file, a pair [image paths file, label vectors file], or a mapping"
                f" part -> either, got {lists!r}"
            )
        if isinstance(self.lists, dict):
            for part in self.lists:
                if part not in OFFICIAL_TAGS:
                    raise DeephashError(f"lists: unknown part {part!r} (parts: {', '.join(OFFICIAL_TAGS)})")
        self.label_format = label_format
        self.num_classes = int(num_classes)
        self.classes_file = classes
        self.prefix_from = prefix_from
        self.prefix_to = prefix_to

    def catalog(self) -> Catalog:
        root = self.require_root()
        files: dict[str, ListSpec] = {"": self.lists} if isinstance(self.lists, str | list) else self.lists
        names = self._class_names(root)
        width = len(names) if names else self.num_classes
        entries: dict[str, Entry] = {}
        for part, spec in files.items():
            width = self._read_list(root, listed_lines(root, spec), part, width, entries)
        if names is None:
            names = [str(c) for c in range(width)]
        sources = list(entries)
        for source, entry in entries.items():
            require_files(root, [source], entry.path, [entry.line])
        labels = np.stack([entry.labels for entry in entries.values()])
        official = ["+".join(sorted(e.tags)) for e in entries.values()] if isinstance(self.lists, dict) else None
        catalog = Catalog(ids=sources, sources=sources, labels=labels, classes=names, official=official)
        where = [root / f for spec in files.values() for f in ([spec] if isinstance(spec, str) else spec)]
        return check_catalog(catalog, ", ".join(map(str, where)))

    def _class_names(self, root: Path) -> list[str] | None:
        if not self.classes_file:
            return None
        names = [text for _, text in read_lines(root / self.classes_file)]
        if self.num_classes and len(names) != self.num_classes:
            raise DeephashError(
                f"expected {self.num_classes} class names, got {len(names)}", path=root / self.classes_file
            )
        return names

    def _read_list(self, root: Path, lines: list[Line], part: str, width: int, entries: dict[str, Entry]) -> int:
        """Add a list's lines to ``entries``; returns the label width (fixed by the first line if 0)."""
        seen: dict[str, int] = {}
        for line in lines:
            relative = line.image
            if self.prefix_from and relative.startswith(self.prefix_from):
                relative = self.prefix_to + relative[len(self.prefix_from) :]
            source = inside_root(root, relative, line.path, line.number)
            if source in seen:
                raise DeephashError(
                    f"duplicate image {source!r} (first on line {seen[source]})", path=line.path, line=line.number
                )
            seen[source] = line.number
            labels, width = self._labels(line.labels, width, line.label_path, line.label_line)
            entry = entries.get(source)
            if entry is None:
                entries[source] = Entry(line.path, line.number, labels, {part} if part else set())
            elif not np.array_equal(entry.labels, labels):
                raise DeephashError(
                    f"{source!r} has other labels on line {entry.line} of {entry.path.name}",
                    path=line.path,
                    line=line.number,
                )
            else:
                entry.tags.add(part)
        return width

    def _labels(self, values: list[str], width: int, path: Path, line: int) -> tuple[np.ndarray, int]:
        if self.label_format == "index":
            if len(values) != 1:
                raise DeephashError(
                    f"expected one class index after the path, got {len(values)} fields", path=path, line=line
                )
            if not width:
                raise DeephashError("label_format index needs num_classes or a classes file", path=path, line=line)
            target = parse_int(values[0], "class index", path, line)
            if not 0 <= target < width:
                raise DeephashError(f"class index {target} is outside 0..{width - 1}", path=path, line=line)
            labels = np.zeros(width, dtype=np.uint8)
            labels[target] = 1
            return labels, width
        if not values:
            raise DeephashError("no labels after the path", path=path, line=line)
        if width and len(values) != width:
            raise DeephashError(f"expected {width} labels, got {len(values)}", path=path, line=line)
        for value in values:
            if value not in ("0", "1"):
                raise DeephashError(f"label {value!r} is not 0 or 1", path=path, line=line)
        labels = np.array([v == "1" for v in values], dtype=np.uint8)
        if not labels.any():
            raise DeephashError("no label is 1: the image would be relevant to nothing", path=path, line=line)
        return labels, len(values)

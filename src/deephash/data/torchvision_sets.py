"""Datasets whose official layout torchvision's own classes already read (``download=False``).

torchvision parses the annotation files; deephash turns its failures into one-line errors naming
the file (and the line, found again by what torchvision refused), checks that every listed image
exists, and keeps the paths relative to the dataset root so the split lists stay portable.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from pathlib import Path
from typing import Any

from deephash.data.base import Catalog
from deephash.data.images import ImageFiles, inside_root
from deephash.data.textfiles import find_line, read_lines
from deephash.errors import DeephashError


class TorchvisionFiles(ImageFiles):
    """A torchvision dataset per official part; subclasses name the parts and build the datasets."""

    #: official tag -> torchvision's ``split`` argument
    splits: dict[str, str]

    @abstractmethod
    def annotation_files(self, split: str) -> list[Path]:
        """The text files torchvision reads for ``split`` (the last one lists the images)."""

    @abstractmethod
    def construct(self, split: str) -> Any:
        """torchvision's dataset for ``split``, built with ``download=False``."""

    def load(self, split: str) -> Any:
        files = self.annotation_files(split)
        if not files[0].is_file():
            raise DeephashError(f"not found; expected this layout: {self.layout}", path=files[0])
        for path in files:
            read_lines(path)  # a missing file or a line that is not UTF-8, named with its line
        try:
            return self.construct(split)
        except RuntimeError:
            raise DeephashError(f"dataset not found; expected this layout: {self.layout}", path=self.root) from None
        except KeyError as exc:
            label = str(exc.args[0])
            raise DeephashError(
                f"label {label!r} is not a known class", path=files[-1], line=find_line(files[-1], label)
            ) from None
        except ValueError as exc:
            line = getattr(exc, "lineno", None) or next((n for n, t in read_lines(files[-1]) if " " not in t), None)
            raise DeephashError(f"cannot parse: {str(exc).splitlines()[0]}", path=files[-1], line=line) from None

    def catalog(self) -> Catalog:
        root = self.require_root()
        sources: list[str] = []
        targets: list[int] = []
        official: list[str] = []
        lines: list[int | None] = []
        listed: list[Path] = []
        classes: list[str] = []
        for tag, split in self.splits.items():
            dataset = self.load(split)
            classes = list(dataset.classes)
            # torchvision keeps the listed files and targets in private attributes only
            files, labels = dataset._image_files, dataset._labels
            listing = self.annotation_files(split)[-1]
            numbered = [i + 1 if listing.suffix == ".txt" else None for i in range(len(files))]  # JSON: no lines
            sources += [
                inside_root(root, os.path.relpath(f, root), listing, n) for f, n in zip(files, numbered, strict=True)
            ]
            targets += [int(t) for t in labels]
            official += [tag] * len(files)
            lines += numbered
            listed += [listing] * len(files)
        for i, source in enumerate(sources):
            if not (root / source).is_file():
                raise DeephashError(f"listed image {source!r} not found under {root}", path=listed[i], line=lines[i])
        return self.file_catalog(sources, targets, classes, listed[0], ids=self.image_ids(sources), official=official)

    def image_ids(self, sources: list[str]) -> list[str]:
        """Ids without the layout's fixed folders and the extension."""
        return [Path(s).with_suffix("").as_posix().split("/images/", 1)[-1] for s in sources]

"""Class-named folders, as torchvision's ImageFolder reads them: your own images, or a re-packed set."""

from __future__ import annotations

import os
from pathlib import Path

from deephash.data import register_dataset
from deephash.data.base import Catalog
from deephash.data.images import IMAGE_EXTENSIONS, ImageFiles, is_image
from deephash.errors import DeephashError


def scan_classes(tree: Path) -> dict[str, list[str]]:
    """Each immediate subfolder of ``tree`` is a class; its images (found recursively, symlinks
    followed) are listed as paths relative to ``tree``, in sorted order, so the scan is reproducible."""
    if not tree.is_dir():
        raise DeephashError("folder not found", path=tree)
    classes = sorted(entry.name for entry in os.scandir(tree) if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise DeephashError("no class folders (expected <class>/<image> below it)", path=tree)
    found: dict[str, list[str]] = {}
    for name in classes:
        files = []
        for folder, dirs, names in os.walk(tree / name, followlinks=True):
            dirs.sort()
            relative = Path(folder).relative_to(tree)
            files += [(relative / f).as_posix() for f in sorted(names) if is_image(f)]
        if not files:
            raise DeephashError(f"class folder has no image ({' '.join(IMAGE_EXTENSIONS)})", path=tree / name)
        found[name] = files
    return found


@register_dataset("imagefolder")
class ImageFolder(ImageFiles):
    """Your own images in class-named folders (single-label)."""

    layout = (
        "root/<class>/**/<image> (jpg, jpeg, png, ppm, bmp, pgm, tif, tiff, webp); classes are the sorted folder"
        " names. With train_test: true, root/train/<class>/... and root/test/<class>/... give the official split"
    )
    example = "dvc exp run -S dataset.name=imagefolder -S dataset.root=/data/my-images -S cache.size=64"

    def __init__(self, root: str | Path | None = None, train_test: bool = False) -> None:
        super().__init__(root)
        self.train_test = train_test

    def catalog(self) -> Catalog:
        root = self.require_root()
        parts = ("train", "test") if self.train_test else ("",)
        scans = {part: scan_classes(root / part) for part in parts}
        classes = sorted({name for scan in scans.values() for name in scan})
        index = {name: i for i, name in enumerate(classes)}
        sources: list[str] = []
        targets: list[int] = []
        official: list[str] = []
        for part, scan in scans.items():
            for name, files in scan.items():
                sources += [(Path(part) / f).as_posix() for f in files]
                targets += [index[name]] * len(files)
                official += [part] * len(files)
        return self.file_catalog(sources, targets, classes, root, official=official if self.train_test else None)

"""Image files under a dataset root: decoding, the usual extensions, and paths kept inside the root."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from deephash.data.base import Catalog, DatasetAdapter, check_catalog, one_hot
from deephash.errors import DeephashError

#: what torchvision's ImageFolder accepts (compared lower-cased)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def decode_image(path: Path | BinaryIO, size: int = 0) -> np.ndarray:
    """The image as RGB uint8 [H, W, 3]. With ``size``, a JPEG is decoded at the smallest DCT scale
    that keeps both sides >= ``size``: the same pixels for the same file, several times faster."""
    try:
        with Image.open(path) as image:
            if size:
                image.draft("RGB", (size, size))
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise DeephashError("image not found", path=path) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DeephashError(f"unreadable or truncated image ({message})", path=path) from None


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def inside_root(root: Path, relative: str, listed_in: Path | None = None, line: int | None = None) -> str:
    """``relative`` as a posix path under ``root``; one that escapes it (``..``, another absolute path)
    is an error. The check is lexical, so a symlinked image folder inside the root is fine."""
    base = os.path.normpath(root)
    full = os.path.normpath(os.path.join(base, relative))
    if os.path.commonpath([base, full]) != base or full == base:
        raise DeephashError(f"path {relative!r} resolves outside the dataset root {root}", path=listed_in, line=line)
    return Path(os.path.relpath(full, base)).as_posix()


def require_files(base: Path, sources: Sequence[str], listed_in: Path, lines: Sequence[int] | None = None) -> None:
    """Every listed image must exist: a missing one is named with the list (and line) naming it."""
    for i, source in enumerate(sources):
        if not os.path.isfile(base / source):
            raise DeephashError(
                f"listed image {source!r} not found under {base}", path=listed_in, line=lines[i] if lines else None
            )


class ImageFiles(DatasetAdapter):
    """An adapter whose sources are image files relative to ``image_root()``."""

    def image_root(self) -> Path:
        return self.require_root()

    def read(self, sources: Sequence[str], size: int = 0) -> Iterator[np.ndarray]:
        base = self.image_root()
        for source in sources:
            yield decode_image(base / source, size)

    def file_catalog(
        self,
        sources: list[str],
        targets: Sequence[int],
        classes: list[str],
        listed_in: Path,
        *,
        ids: list[str] | None = None,
        official: list[str] | None = None,
        lines: Sequence[int] | None = None,
    ) -> Catalog:
        """A single-label catalogue of listed files, each checked to exist under ``image_root()``."""
        require_files(self.image_root(), sources, listed_in, lines)
        catalog = Catalog(
            ids=ids if ids is not None else list(sources),
            sources=sources,
            labels=one_hot(targets, len(classes)),
            classes=classes,
            official=official,
        )
        return check_catalog(catalog, listed_in)

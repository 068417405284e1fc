"""A split's cached images and labels, served as float tensor batches to the training loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from deephash.data.base import Catalog
from deephash.data.cache import kept_catalog, load_cache
from deephash.errors import DeephashError


class ImageArrays:
    """A split's cached uint8 images [N, H, W, C] with their multi-hot labels."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        if len(images) != len(labels):
            raise DeephashError(f"{len(images)} cached images but {len(labels)} label rows")
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    def tensors(self, index: np.ndarray, device: torch.device) -> tuple[Tensor, Tensor]:
        """Float images [B, C, H, W] in [0, 1] and float labels of rows ``index``, on ``device``."""
        return self.to_device(*self.host(index), device)

    def host(self, index: np.ndarray) -> tuple[Tensor, Tensor]:
        """The uint8 images [B, H, W, C] and labels of rows ``index`` (in that order), on the host."""
        order = np.sort(index)  # memory-mapped reads are fastest in file order
        position = np.searchsorted(order, index)
        images = torch.from_numpy(np.ascontiguousarray(self.images[order]))[position]
        labels = torch.from_numpy(np.ascontiguousarray(self.labels[order]))[position]
        return images, labels

    @staticmethod
    def to_device(
        images: Tensor, labels: Tensor, device: torch.device, non_blocking: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Copy to ``device`` as uint8 (4x less to move), then convert there."""
        images = images.to(device, non_blocking=non_blocking).permute(0, 3, 1, 2).float().div_(255.0)
        return images, labels.to(device, non_blocking=non_blocking).float()


def load_arrays(cache_dir: str | Path, catalog: Catalog, part: str) -> ImageArrays:
    """A split part's cached images with the labels of its list (same order by construction; images
    the cache stage skipped are left out of both)."""
    catalog = kept_catalog(catalog, cache_dir, part)
    images = load_cache(Path(cache_dir) / f"{part}.npy")
    if len(images) != len(catalog):
        raise DeephashError(
            f"the cache holds {len(images)} images but the {part} list has {len(catalog)}; rerun the cache stage",
            path=Path(cache_dir) / f"{part}.npy",
        )
    return ImageArrays(images, catalog.labels)

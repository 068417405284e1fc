"""Which images each training step sees: seeded samplers, augmentation, and the loader that feeds a GPU.

The samplers draw from the training loop's one generator, so the same seed gives the same batches
(and, on CPU, the same weights bit for bit). The in-process path reads each batch from the uint8
cache when the step needs it; on CUDA, ``train.workers`` processes read the epoch's batches ahead
into pinned memory and the loop copies them to the device without blocking.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError

if TYPE_CHECKING:
    from deephash.train import TrainConfig


def epoch_batches(n: int, batch_size: int, generator: torch.Generator, rank: int, world: int) -> Iterator[np.ndarray]:
    """This process's batches of one epoch: a seeded permutation, sharded, last short batch dropped."""
    order = torch.randperm(n, generator=generator).numpy()
    per_step = batch_size * world
    steps = max(1, n // per_step) if n else 0
    for s in range(steps):
        chunk = order[s * per_step : (s + 1) * per_step]
        yield chunk[rank::world]


def balanced_batches(
    labels: np.ndarray, batch_size: int, per_class: int, generator: torch.Generator, rank: int, world: int
) -> Iterator[np.ndarray]:
    """This process's batches of one epoch, each ``batch_size // per_class`` classes x ``per_class``
    images of that class (drawn with replacement only from a class with fewer images).

    With many classes and few images each, a random batch holds almost no pair of the same class, and
    pairwise or triplet losses see next to no positive; here every anchor has ``per_class - 1``.
    Classes are visited in a seeded cycling order; the epoch has as many steps as the random sampler's.
    Every process draws the same batches for all ranks and keeps its own slice, so ranks stay in step.
    """
    pools = [np.flatnonzero(column) for column in np.asarray(labels).T]
    classes = np.array([c for c, pool in enumerate(pools) if len(pool)])
    if not len(classes):
        return
    width = max(1, batch_size // per_class)
    steps = max(1, len(labels) // (batch_size * world))
    need = steps * width * world
    rounds = -(-need // len(classes))
    order = np.concatenate([classes[torch.randperm(len(classes), generator=generator).numpy()] for _ in range(rounds)])
    for s in range(steps):
        chosen = order[s * width * world : (s + 1) * width * world][rank * width : (rank + 1) * width]
        picks = []
        for c in chosen:
            pool = pools[c]
            if len(pool) >= per_class:
                picks.append(pool[torch.randperm(len(pool), generator=generator).numpy()[:per_class]])
            else:
                picks.append(pool[torch.randint(0, len(pool), (per_class,), generator=generator).numpy()])
        yield np.concatenate(picks)


class _Rows(Dataset[tuple[np.ndarray, Tensor, Tensor]]):
    """Batch ``i`` of a fixed list, read from the cache by a worker (uint8, still on the host)."""

    def __init__(self, data: ImageArrays, batches: list[np.ndarray]) -> None:
        self.data = data
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[np.ndarray, Tensor, Tensor]:
        index = self.batches[i]
        return (index, *self.data.host(index))


def device_batches(
    data: ImageArrays, batches: Iterable[np.ndarray], device: torch.device, workers: int
) -> Iterator[tuple[np.ndarray, Tensor, Tensor]]:
    """(index, float images [B, C, H, W] in [0, 1], float labels) on ``device`` for each batch.

    With ``workers`` > 0 on CUDA the epoch's batches are drawn up front (so the augmentation that
    follows sees the generator in another order than the in-process path: same seed, same result,
    but not the CPU path's bytes) and read ahead by worker processes into pinned memory.
    """
    if workers <= 0 or device.type != "cuda":
        for index in batches:
            yield (index, *data.tensors(index, device))
        return
    loader = DataLoader(_Rows(data, list(batches)), batch_size=None, num_workers=workers, pin_memory=True)
    for index, images, labels in loader:
        yield (index, *data.to_device(images, labels, device, non_blocking=True))


def augment(images: Tensor, config: TrainConfig, generator: torch.Generator, train: bool) -> Tensor:
    """Pad-and-crop, random/centre crop and horizontal flip, drawn from the loop's generator."""
    if train and config.pad:
        images = nn.functional.pad(images, [config.pad] * 4)
        size = images.shape[-1] - 2 * config.pad, images.shape[-2] - 2 * config.pad
        images = _crop(images, size[1], size[0], generator if train else None)
    if config.crop:
        images = _crop(images, config.crop, config.crop, generator if train else None)
    if train and config.hflip:
        flip = torch.rand(len(images), generator=generator) < 0.5
        images = torch.where(flip.view(-1, 1, 1, 1).to(images.device), images.flip(-1), images)
    return images


def _crop(images: Tensor, height: int, width: int, generator: torch.Generator | None) -> Tensor:
    h, w = images.shape[-2:]
    if (h, w) == (height, width):
        return images
    if height > h or width > w:
        raise DeephashError(f"crop {height}x{width} is larger than the cached {h}x{w} images")
    if generator is None:
        top, left = (h - height) // 2, (w - width) // 2
        return images[..., top : top + height, left : left + width]
    tops = torch.randint(0, h - height + 1, (len(images),), generator=generator).tolist()
    lefts = torch.randint(0, w - width + 1, (len(images),), generator=generator).tolist()
    return torch.stack([img[:, t : t + height, s : s + width] for img, t, s in zip(images, tops, lefts, strict=True)])

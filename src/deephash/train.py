"""The training loop every stage shares: the SHC classifier (stage 1) and every hashing method.

It knows nothing of DVC: progress goes to a plain callback, which the stage wires to DVCLive.
Runs on CUDA when present (``device: auto``) and under ``torchrun`` as PyTorch DDP: each process
takes a disjoint shard of every epoch's seeded permutation and gradients are averaged by DDP.
On CPU the same params give the same weights bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from deephash.config import from_mapping
from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError

OPTIMIZERS = ("rmsprop", "adam", "sgd")
SAMPLERS = ("random", "balanced")


@dataclass
class TrainConfig:
    """Optimiser, schedule and augmentation: the ``train`` section of params (or ``similarity``)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-5
    optimizer: str = "rmsprop"
    momentum: float = 0.9
    eta_min: float = 1e-7
    seed: int = 0
    device: str = "auto"
    threads: int = 1  # CPU threads of torch: fixed, so CPU results do not depend on the machine
    crop: int = 0  # random crop (train) / centre crop (eval) to this size; 0 = none
    pad: int = 0  # zero-pad then random-crop back: small translations for tiny images
    hflip: bool = False
    backbone_lr: float = 1.0  # multiplier on lr for the backbone (pretrained backbones: < 1)
    sampler: str = "random"  # random: a permutation per epoch; balanced: per_class images of each class drawn
    per_class: int = 4  # images per class in a balanced batch (batch_size // per_class classes)

    @classmethod
    def from_params(cls, params: dict[str, Any], section: str = "train") -> TrainConfig:
        config = from_mapping(cls, params, section)
        config.validate(section)
        return config

    def validate(self, section: str = "train") -> None:
        if self.epochs < 0:
            raise DeephashError(f"{section}.epochs: must be >= 0, got {self.epochs}")
        if self.batch_size < 2:
            raise DeephashError(f"{section}.batch_size: must be >= 2, got {self.batch_size}")
        if not self.lr > 0:
            raise DeephashError(f"{section}.lr: must be > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            raise DeephashError(f"{section}.optimizer: must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.sampler not in SAMPLERS:
            raise DeephashError(f"{section}.sampler: must be one of {SAMPLERS}, got {self.sampler!r}")
        if not 1 <= self.per_class <= self.batch_size:
            raise DeephashError(f"{section}.per_class: must be in [1, batch_size], got {self.per_class}")
        if self.threads < 1:
            raise DeephashError(f"{section}.threads: must be >= 1, got {self.threads}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise DeephashError(f"{section}.device: must be auto, cpu or cuda[:N], got {self.device!r}")


@dataclass
class Batch:
    images: Tensor  # float [B, C, H, W] in [0, 1], augmented
    labels: Tensor  # float multi-hot [B, num_classes]
    index: Tensor  # long [B], positions in the training set (for per-item state)


class Objective(nn.Module):
    """What a method optimises. ``step`` is the global iteration, set by the loop before ``loss``."""

    step: int = 0
    #: False for unsupervised objectives: their training never reads a label
    supervised: ClassVar[bool] = True

    def begin_training(self, model: nn.Module, data: ImageArrays, config: TrainConfig) -> None:
        """Hook before the first epoch: closed-form methods (LSH, ITQ) fit their whole network here."""

    def begin_epoch(self, epoch: int, model: nn.Module, data: ImageArrays) -> None:
        """Hook for per-epoch work outside SGD (HashNet's continuation, ADSH's code update)."""

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        raise NotImplementedError


def resolve_device(name: str, threads: int = 1) -> torch.device:
    """The device to run on; also fixes torch's CPU thread count (oversubscribed OpenMP threads
    make small networks several times slower, and the count can change float reductions)."""
    torch.set_num_threads(threads)
    if name == "auto":
        if distributed() and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeephashError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the torchrun process group when launched by torchrun; returns (rank, world size)."""
    if not distributed():
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def is_main_process() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


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


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    backbone = getattr(model, "backbone", None)
    backbone_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    groups = [
        {"params": [p for p in model.parameters() if id(p) in backbone_ids], "lr": config.lr * config.backbone_lr},
        {"params": [p for p in model.parameters() if id(p) not in backbone_ids], "lr": config.lr},
    ]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
    )


EpochCallback = Callable[[int, dict[str, float]], None]


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


def fit(
    model: nn.Module,
    objective: Objective,
    data: ImageArrays,
    config: TrainConfig,
    callback: EpochCallback | None = None,
    desc: str = "train",
) -> nn.Module:
    """Train ``model`` on ``data`` to minimise ``objective``; returns the (unwrapped) model."""
    if config.sampler == "balanced" and not objective.supervised:
        raise DeephashError(f"{desc}: sampler 'balanced' draws batches by label, and this method never reads one")
    generator = seed_everything(config.seed)
    device = resolve_device(config.device, config.threads)
    rank, world = init_distributed(device)
    model.to(device)
    objective.to(device)
    objective.begin_training(model, data, config)
    if config.epochs == 0:  # nothing for SGD to do (a closed-form method's network is already fitted)
        return model
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(config.epochs, 1), eta_min=config.eta_min
    )
    step = 0
    epochs = tqdm(
        range(config.epochs),
        desc=desc,
        unit="epoch",
        mininterval=5,
        disable=not is_main_process() or config.epochs == 0,
    )
    for epoch in epochs:
        model.eval()
        objective.begin_epoch(epoch, model, data)
        model.train()
        total, count = 0.0, 0
        if config.sampler == "balanced":
            batches = balanced_batches(data.labels, config.batch_size, config.per_class, generator, rank, world)
        else:
            batches = epoch_batches(len(data), config.batch_size, generator, rank, world)
        for index in batches:
            images, labels = data.tensors(index, device)
            images = augment(images, config, generator, train=True)
            batch = Batch(images=images, labels=labels, index=torch.from_numpy(index).to(device))
            objective.step = step
            loss = objective.loss(net(images), batch)
            if not torch.isfinite(loss):
                raise DeephashError(f"{desc}: the loss became {loss.item()} at epoch {epoch + 1}; lower the lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
            count += len(index)
            step += 1
        scheduler.step()
        stats = {"loss": total / max(count, 1), "lr": optimizer.param_groups[-1]["lr"]}
        epochs.set_postfix(loss=f"{stats['loss']:.4f}")
        if callback is not None and is_main_process():
            callback(epoch, stats)
    return model


@torch.no_grad()
def predict(
    model: nn.Module, data: ImageArrays, config: TrainConfig, batch_size: int = 256, desc: str = "encode"
) -> Tensor:
    """Run ``model`` in eval mode over every image (centre-cropped as in training), on CPU output."""
    device = resolve_device(config.device, config.threads)
    model.to(device).eval()
    outputs = []
    starts = range(0, len(data), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=len(starts) < 20):
        index = np.arange(start, min(start + batch_size, len(data)))
        images, _ = data.tensors(index, device)
        outputs.append(model(augment(images, config, torch.Generator(), train=False)).float().cpu())
    if not outputs:
        return torch.zeros(0)
    return torch.cat(outputs)

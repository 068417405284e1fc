"""The training loop every stage shares: the SHC classifier (stage 1) and every hashing method.

It knows nothing of DVC: progress goes to a plain callback, which the stage wires to DVCLive.
Runs on CUDA when present (``device: auto``) and under ``torchrun`` as PyTorch DDP: each process
takes a disjoint shard of every epoch's seeded permutation and gradients are averaged by DDP.
On CPU the same params give the same weights bit for bit, and a run resumed from its checkpoint
(``deephash.resume``) gives the same bytes as one never interrupted.

Model selection (``val_every``, ``select``): every ``val_every`` epochs, and after the last, the
loop calls ``validate`` (``deephash.validation``: mAP@all of the validation images against the
training images) and logs ``val_map``; ``best_val`` keeps the weights of the best such epoch (ties:
the earliest), ``last`` those of the final epoch. The query set is never looked at.

The GPU path: ``precision`` bf16 / fp16 runs forward and loss under autocast (fp16 with a grad
scaler), ``channels_last`` and ``workers`` apply on CUDA only (on CPU they change nothing), and
``deterministic: false`` lets cuDNN pick its fastest, non-deterministic kernels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from deephash.batches import augment, balanced_batches, device_batches, epoch_batches
from deephash.config import from_mapping
from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.resume import Checkpoint, rng_state, set_rng_state

OPTIMIZERS = ("rmsprop", "adam", "sgd")
SAMPLERS = ("random", "balanced")
SELECT = ("best_val", "last")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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
    val_every: int = 0  # validation mAP every this many epochs (and after the last); 0 = never
    select: str = "last"  # best_val: the weights of the best validation epoch; last: of the final epoch
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 with a grad scaler)
    channels_last: bool = True  # channels-last memory format for the network (CUDA only)
    workers: int = 0  # loader processes reading batches ahead into pinned memory (CUDA only)
    deterministic: bool = True  # CUDA: deterministic kernels, cuDNN autotuning off (CPU always is)

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
        if self.val_every < 0:
            raise DeephashError(f"{section}.val_every: must be >= 0 (0 = no validation), got {self.val_every}")
        if self.select not in SELECT:
            raise DeephashError(f"{section}.select: must be one of {SELECT}, got {self.select!r}")
        if self.select == "best_val" and not self.val_every:
            raise DeephashError(f"{section}.select: best_val needs {section}.val_every > 0")
        if self.precision not in PRECISIONS:
            raise DeephashError(f"{section}.precision: must be one of {tuple(PRECISIONS)}, got {self.precision!r}")
        if self.workers < 0:
            raise DeephashError(f"{section}.workers: must be >= 0, got {self.workers}")


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

    def extra_state(self) -> dict[str, Any]:
        """What a checkpoint keeps beside the buffers: the objective's own generators and numbers.

        A method keeping other state between epochs overrides this and ``load_extra_state``.
        """
        state: dict[str, Any] = {}
        for name, value in vars(self).items():
            if isinstance(value, torch.Generator):
                state[name] = value.get_state()
            elif isinstance(value, int | float) and not name.startswith("_") and name != "training":
                state[name] = value
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            current = getattr(self, name)
            if isinstance(current, torch.Generator):
                current.set_state(value)
            else:
                setattr(self, name, value)

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


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed torch and return the loop's generator. ``deterministic`` False frees CUDA to use its
    fastest kernels (cuDNN autotuning, atomics): faster, but the same seed no longer gives the
    same bytes on a GPU. CPU kernels are deterministic at a fixed thread count either way."""
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic mode
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = not deterministic
    return torch.Generator().manual_seed(seed)


def autocast(device: torch.device, precision: str) -> AbstractContextManager[Any]:
    """Mixed precision of forward and loss; a one-line error where the device cannot run it."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return torch.autocast(device.type, enabled=False)
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise DeephashError(f"train.precision: bf16 is not supported by {torch.cuda.get_device_name(device)}")
    try:
        with torch.autocast(device.type, dtype=dtype):
            torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)
    except RuntimeError as exc:
        raise DeephashError(f"train.precision: {precision} autocast fails on {device}: {exc}") from None
    return torch.autocast(device.type, dtype=dtype)


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
#: validation mAP of the network as it stands (``deephash.validation.validation_map``)
Validator = Callable[[nn.Module], float]


@dataclass
class FitResult:
    """Which epoch's weights the model holds (1-based), its validation mAP (None: not measured), and
    every epoch's logged stats."""

    epoch: int
    val_map: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def _state(model: nn.Module, objective: Objective) -> dict[str, Any]:
    """Weights and objective state, copied to the CPU (a snapshot that later steps do not touch)."""

    def cpu(state: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}

    return {
        "model": cpu(model.state_dict()),
        "objective": cpu(objective.state_dict()),
        "extra": objective.extra_state(),
    }


def _load_state(model: nn.Module, objective: Objective, state: dict[str, Any]) -> None:
    model.load_state_dict(state["model"])
    objective.load_state_dict(state["objective"])
    objective.load_extra_state(state["extra"])


def fit(
    model: nn.Module,
    objective: Objective,
    data: ImageArrays,
    config: TrainConfig,
    callback: EpochCallback | None = None,
    desc: str = "train",
    *,
    validate: Validator | None = None,
    checkpoint: Checkpoint | None = None,
) -> FitResult:
    """Train ``model`` on ``data`` to minimise ``objective``; ``model`` ends with the selected weights.

    ``validate`` is called every ``config.val_every`` epochs and after the last; ``checkpoint``, when
    given, is resumed from if it matches and rewritten after every epoch.
    """
    if config.sampler == "balanced" and not objective.supervised:
        raise DeephashError(f"{desc}: sampler 'balanced' draws batches by label, and this method never reads one")
    if config.val_every and validate is None:
        raise DeephashError(f"{desc}: train.val_every is {config.val_every} but there is nothing to validate on")
    generator = seed_everything(config.seed, config.deterministic)
    device = resolve_device(config.device, config.threads)
    cast = autocast(device, config.precision)
    rank, world = init_distributed(device)
    channels_last = config.channels_last and device.type == "cuda"
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    objective.to(device)
    objective.begin_training(model, data, config)
    if config.epochs == 0:  # nothing for SGD to do (a closed-form method's network is already fitted)
        return FitResult(epoch=0)
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(config.epochs, 1), eta_min=config.eta_min
    )
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    step, start, history, best = 0, 0, [], None
    resumed = checkpoint.load() if checkpoint is not None else None
    if resumed is not None:
        _load_state(model, objective, resumed)
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        scaler.load_state_dict(resumed["scaler"])
        generator.set_state(resumed["generator"])
        set_rng_state(resumed["rng"])
        step, start, history, best = resumed["step"], resumed["epoch"], resumed["history"], resumed["best"]
        if callback is not None and is_main_process():
            for epoch, stats in enumerate(history):  # the resumed epochs' log, as the first run wrote it
                callback(epoch, stats)
    epochs = tqdm(
        range(start, config.epochs),
        desc=desc,
        unit="epoch",
        mininterval=5,
        initial=start,
        total=config.epochs,
        disable=not is_main_process() or config.epochs == 0,
    )
    for epoch in epochs:
        model.eval()
        objective.begin_epoch(epoch, model, data)
        model.train()
        total, count = torch.zeros((), dtype=torch.float64, device=device), 0  # on the device: no sync per step
        if config.sampler == "balanced":
            batches = balanced_batches(data.labels, config.batch_size, config.per_class, generator, rank, world)
        else:
            batches = epoch_batches(len(data), config.batch_size, generator, rank, world)
        for index, images, labels in device_batches(data, batches, device, config.workers):
            images = augment(images, config, generator, train=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            batch = Batch(images=images, labels=labels, index=torch.from_numpy(index).to(device))
            objective.step = step
            with cast:
                loss = objective.loss(net(images), batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.detach().double() * len(index)  # the same doubles as a Python sum of floats
            count += len(index)
            step += 1
        scheduler.step()
        mean = float(total) / max(count, 1)
        if not math.isfinite(mean):
            raise DeephashError(f"{desc}: the loss became {mean} in epoch {epoch + 1}; lower the lr")
        stats = {"loss": mean, "lr": optimizer.param_groups[-1]["lr"]}
        if validate is not None and ((epoch + 1) % config.val_every == 0 or epoch + 1 == config.epochs):
            stats["val_map"] = validate(model)
            if best is None or stats["val_map"] > best["val_map"]:
                best = {"epoch": epoch + 1, "val_map": stats["val_map"], **_state(model, objective)}
        history.append(stats)
        epochs.set_postfix({k: f"{v:.4f}" for k, v in stats.items() if k != "lr"})
        if callback is not None and is_main_process():
            callback(epoch, stats)
        if checkpoint is not None and is_main_process():
            checkpoint.save(
                {
                    **_state(model, objective),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "generator": generator.get_state(),
                    "rng": rng_state(),
                    "step": step,
                    "epoch": epoch + 1,
                    "history": history,
                    "best": best,
                }
            )
    if config.select == "best_val" and best is not None:
        _load_state(model, objective, best)
        return FitResult(epoch=best["epoch"], val_map=best["val_map"], history=history)
    last_map = history[-1].get("val_map") if history else None
    return FitResult(epoch=config.epochs, val_map=last_map, history=history)


@torch.no_grad()
def predict_batches(
    model: nn.Module, data: ImageArrays, config: TrainConfig, batch_size: int = 256, desc: str = "encode"
) -> Iterator[tuple[int, Tensor]]:
    """(first row, outputs on CPU) of every batch, ``model`` in eval mode on centre-cropped images: a
    caller can write each batch where it belongs instead of holding every output twice."""
    device = resolve_device(config.device, config.threads)
    model.to(device).eval()
    starts = range(0, len(data), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=len(starts) < 20):
        index = np.arange(start, min(start + batch_size, len(data)))
        images, _ = data.tensors(index, device)
        yield start, model(augment(images, config, torch.Generator(), train=False)).float().cpu()


def predict(
    model: nn.Module, data: ImageArrays, config: TrainConfig, batch_size: int = 256, desc: str = "encode"
) -> Tensor:
    """Every image's outputs in one tensor (see ``predict_batches``)."""
    outputs = [out for _, out in predict_batches(model, data, config, batch_size, desc)]
    if not outputs:
        return torch.zeros(0)
    return torch.cat(outputs)

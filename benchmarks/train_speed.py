"""Images per second of deephash's training loop beside a bare PyTorch loop, same model, batch and data.

Both loops train the same network (a copy of one initialisation) with cross-entropy, RMSprop at the
same lr and weight decay, on the same uint8 images converted to float on the device, without
augmentation; the bare loop is the textbook `for x, y in batches: loss.backward(); opt.step()`.
deephash's loop adds what it needs: its samplers, the cache reads, per-epoch bookkeeping, the grad
scaler and autocast wrappers. Each loop runs one epoch of ``--steps`` steps per repeat, alternating,
after one untimed warm-up epoch each; the fastest repeat counts. Goal: deephash/bare <= 1.10.
Usage: python benchmarks/train_speed.py [--device cpu|cuda] [--precision fp32|bf16|fp16] [--workers N]
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import torch
from torch import nn

from deephash.data.arrays import ImageArrays
from deephash.models import HashingNetwork, LinearHead, create_backbone
from deephash.similarity import ClassifierObjective
from deephash.train import PRECISIONS, TrainConfig, autocast, fit, resolve_device

CLASSES = 10
#: model -> (image shape H, W, C, default batch, default steps on CPU)
MODELS = {"smallcnn": ((8, 16, 1), 64, 40), "resnet34": ((224, 224, 3), 8, 3)}


def bare_loop(model: nn.Module, data: ImageArrays, config: TrainConfig, device: torch.device) -> None:
    optimizer = torch.optim.RMSprop(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    cast = autocast(device, config.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    channels_last = config.channels_last and device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0)).numpy()
    for s in range(len(data) // config.batch_size):
        index = order[s * config.batch_size : (s + 1) * config.batch_size]
        x = torch.from_numpy(data.images[index]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(data.labels[index].argmax(1)).to(device)
        with cast:
            loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def timed(run: object, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()  # type: ignore[operator]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(name: str, args: argparse.Namespace, device: torch.device) -> tuple[int, int, float, float]:
    shape, batch, steps = MODELS[name]
    batch = args.batch or (batch if device.type == "cpu" else 128)
    steps = args.steps or (steps if device.type == "cpu" else 50)
    rng = np.random.default_rng(0)
    n = batch * steps
    labels = np.eye(CLASSES, dtype=np.uint8)[rng.integers(0, CLASSES, n)]
    data = ImageArrays(rng.integers(0, 256, (n, *shape), dtype=np.uint8), labels)
    config = TrainConfig(
        epochs=1, batch_size=batch, device=str(device), threads=args.threads, precision=args.precision,
        workers=args.workers, deterministic=not args.fast, optimizer="rmsprop",
    )  # fmt: skip
    torch.manual_seed(0)
    backbone = create_backbone(name, in_channels=shape[2])
    initial = HashingNetwork(backbone, LinearHead(backbone.out_features, CLASSES))
    objective = ClassifierObjective(multilabel=False)

    def ours() -> None:
        fit(copy.deepcopy(initial), objective, data, config, desc=f"deephash {name}")

    def bare() -> None:
        bare_loop(copy.deepcopy(initial).to(device), data, config, device)

    times: dict[str, list[float]] = {"ours": [], "bare": []}
    for repeat in range(args.repeats + 1):
        for key, run in (("ours", ours), ("bare", bare)):
            seconds = timed(run, device)
            if repeat:  # repeat 0 warms up (allocator, cuDNN, first-touch of the data)
                times[key].append(seconds)
    return batch, steps, n / min(times["ours"]), n / min(times["bare"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=list(PRECISIONS))
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated: smallcnn, resnet34")
    p.add_argument("--batch", type=int, default=0, help="images per step (0: 64 / 8 on CPU, 128 on CUDA)")
    p.add_argument("--steps", type=int, default=0, help="steps per timed epoch (0: 40 / 3 on CPU, 50 on CUDA)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=0, help="deephash's loader processes (CUDA only)")
    p.add_argument("--fast", action="store_true", help="train.deterministic: false (cuDNN autotuning)")
    args = p.parse_args()
    device = resolve_device(args.device, args.threads)
    print(f"device {device}, precision {args.precision}, {args.threads} thread(s), {os.cpu_count()} cores")
    print(f"{'model':<10}{'batch':>6}{'steps':>6}{'deephash img/s':>16}{'bare img/s':>12}{'step time ratio':>17}")
    for name in args.models.split(","):
        batch, steps, ours, bare = measure(name, args, device)
        print(f"{name:<10}{batch:>6}{steps:>6}{ours:>16.1f}{bare:>12.1f}{bare / ours:>17.3f}")


if __name__ == "__main__":
    main()

"""Training toward hash centres: the loss and targets SHC and CSQ share.

Each image's target is its class centre; a multi-label image's target is the sign of the sum of
its labels' centres, with coordinates that sum to exactly zero taken from one fixed random +-1
vector (as CSQ does). The loss is BCE between (tanh(u)+1)/2 and (c+1)/2, plus
``quantization`` * mean((|tanh u| - 1)^2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from deephash.errors import DeephashError
from deephash.methods.base import HashingMethod
from deephash.train import Batch


def centers_file(directory: Path, bits: int) -> Path:
    return Path(directory) / f"centers-{bits}.npy"


def center_targets(labels: Tensor, centers: Tensor, tie_break: Tensor) -> Tensor:
    """Per-image +-1 targets [B, q] from multi-hot labels [B, C] and centres [C, q]."""
    summed = labels @ centers
    return torch.where(summed == 0, tie_break.expand_as(summed), torch.sign(summed))


def center_loss(outputs: Tensor, targets: Tensor, quantization: float) -> Tensor:
    relaxed = torch.tanh(outputs)
    bce = nn.functional.binary_cross_entropy((relaxed + 1) / 2, (targets + 1) / 2)
    quant = ((relaxed.abs() - 1) ** 2).mean()
    return bce + quantization * quant


class CenterMethod(HashingMethod):
    prestage: ClassVar[str | None] = "centers"
    defaults: ClassVar[dict[str, Any]] = {"quantization": 1e-4, "tie_seed": 0}
    # buffers (register_buffer): declared so that type checkers see tensors, not Tensor | Module
    tie_break: Tensor
    centers: Tensor

    def __init__(self, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(bits, num_classes, params)
        generator = torch.Generator().manual_seed(int(self.hparams["tie_seed"]))
        tie = torch.randint(0, 2, (bits,), generator=generator).float() * 2 - 1
        self.register_buffer("tie_break", tie)
        self.register_buffer("centers", torch.zeros(num_classes, bits))

    @classmethod
    def build_centers(
        cls, num_classes: int, bits: int, similarity: np.ndarray | None, params: dict[str, Any]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The method's centres (int8 [C, bits] of +-1) and a report of how they were made; the
        report's ``warnings`` (one-line notes for stderr, such as a d not reached) are not metrics."""
        raise NotImplementedError

    def load_targets(self, directory: Path, train_labels: np.ndarray) -> None:
        path = centers_file(directory, self.bits)
        if not path.exists():
            raise DeephashError(f"no centres for {self.name} at {self.bits} bits (run its centers stage)", path=path)
        try:
            centers = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DeephashError(f"not a .npy array of centres ({exc})", path=path) from None
        if centers.shape != (self.num_classes, self.bits):
            raise DeephashError(
                f"centres of shape {centers.shape}, expected ({self.num_classes}, {self.bits})", path=path
            )
        self.centers = torch.from_numpy(centers.astype(np.float32)).to(self.centers.device)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        targets = center_targets(batch.labels, self.centers, self.tie_break)
        return center_loss(outputs, targets, float(self.hparams["quantization"]))

"""Heads on top of a backbone; the network's raw output u is what every loss receives."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from deephash.errors import DeephashError
from deephash.models.backbones import Backbone


class LinearHead(nn.Linear):
    """Linear layer initialised N(0, 0.01) with zero bias, as SHC's and CSQ's hash layers are."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        nn.init.normal_(self.weight, std=0.01)
        nn.init.zeros_(self.bias)


class DivideEncodeHead(nn.Linear):
    """DNNH's divide-and-encode layer: the feature is cut into ``bits`` slices, bit k sees slice k only.

    Disjoint inputs keep the bits from copying one another. Slices are as equal as possible (sizes
    differ by at most one); the layer is a linear map whose weight is masked to a block diagonal
    (PyTorch's default initialisation, masked).
    """

    mask: Tensor  # a buffer (register_buffer), declared so that type checkers see a tensor

    def __init__(self, in_features: int, bits: int) -> None:
        if in_features < bits:
            raise DeephashError(
                f"divide-and-encode needs at least one feature per bit: {in_features} features, {bits} bits"
            )
        super().__init__(in_features, bits)
        mask = np.zeros((bits, in_features), dtype=np.float32)
        for bit, columns in enumerate(np.array_split(np.arange(in_features), bits)):
            mask[bit, columns] = 1.0
        self.register_buffer("mask", torch.from_numpy(mask), persistent=False)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class HashingNetwork(nn.Module):
    """backbone -> head; ``forward`` returns the pre-activation u, codes are sign(u)."""

    def __init__(self, backbone: Backbone, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))

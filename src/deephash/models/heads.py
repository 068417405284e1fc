"""Heads on top of a backbone; the network's raw output u is what every loss receives."""

from __future__ import annotations

from torch import Tensor, nn

from deephash.models.backbones import Backbone


class LinearHead(nn.Linear):
    """Linear layer initialised N(0, 0.01) with zero bias, as SHC's and CSQ's hash layers are."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        nn.init.normal_(self.weight, std=0.01)
        nn.init.zeros_(self.bias)


class HashingNetwork(nn.Module):
    """backbone -> head; ``forward`` returns the pre-activation u, codes are sign(u)."""

    def __init__(self, backbone: Backbone, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))

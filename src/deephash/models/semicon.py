"""The SEMICON network (Shen et al., ECCV 2022): a global branch and three attention-guided local
branches on one shared trunk, each refined by interactive channel transformations (ICON).

The trunk is the backbone up to its last stage, as the backbone itself defines it
(``Backbone.trunk``: ResNet through layer3, smallcnn before its last conv block), cut out of the
backbone's own forward so its preprocessing is kept. Two copies of the last stage, each followed by
ICON blocks, refine the global and the (shared) local features. The suppression-enhancing mask (SEM)
branch draws three attention maps in turn, each from features in which the previous map's strongest
region has been suppressed and its weaker regions enhanced, so the three look at complementary
parts. Bits are split between the global code and the three local codes (``bit_split``); u is their
concatenation.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from deephash.errors import DeephashError
from deephash.models.backbones import Backbone
from deephash.models.heads import LinearHead

LOCAL_BRANCHES = 3


def bit_split(bits: int) -> tuple[int, ...]:
    """Bits of the global code and of each local code: floor(q/6) per local branch, the rest global.

    This reproduces the reference's splits: 12 = 6+2+2+2, 24 = 12+4+4+4, 32 = 17+5+5+5, 48 = 24+8+8+8.
    """
    local = bits // 6
    if local < 1:
        raise DeephashError(f"bits: semicon needs at least 6 bits (one per local branch), got {bits}")
    return (bits - LOCAL_BRANCHES * local, *[local] * LOCAL_BRANCHES)


def suppression_mask(attention: Tensor, alpha: float, eps: float = 1e-6) -> Tensor:
    """SEM's mask in [0, 2] from a [B, 1, H, W] map: spatial softmax, standardised by its mean and
    std^alpha, plus 1. Multiplying features by (2 - mask) damps the strongest region (mask near 2)
    and amplifies the weak ones (mask below 1)."""
    p = torch.softmax(attention.flatten(1), dim=1)
    mean, std = p.mean(1, keepdim=True), p.std(1, keepdim=True, correction=0)
    return ((p - mean) / (std + eps) ** alpha + 1).clamp(0, 2).view_as(attention)


def conv_block(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SuppressionEnhancingMask(nn.Module):
    """Three attention maps [B, 1, H, W], each drawn after suppressing the previous one's peak."""

    def __init__(self, channels: int, alpha: float) -> None:
        super().__init__()
        reduced = max(channels // 4, 1)
        self.alpha = alpha
        self.reduce = conv_block(channels, reduced)  # stride 1: the map keeps the trunk's resolution
        self.heads = nn.ModuleList(conv_block(reduced, 1, kernel=1) for _ in range(LOCAL_BRANCHES))

    def forward(self, x: Tensor) -> list[Tensor]:
        features = self.reduce(x)
        maps = []
        for head in self.heads:
            attention = head(features)
            maps.append(attention)
            features = features * (2 - suppression_mask(attention, self.alpha))
        return maps


def signed_sqrt(x: Tensor, eps: float = 1e-8) -> Tensor:
    return torch.sign(x) * torch.sqrt(x.abs() + eps)


class ChannelAttention(nn.Module):
    """One ICON round: channels are tokens (their H*W responses), attending within ``groups``
    groups of consecutive channels: affinity q k^T / sqrt(HW), signed square root, softmax over
    keys, aggregate v; then BN + ReLU and a residual."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.groups = groups
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, groups=groups, bias=False)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).view(b, self.groups, 3, c // self.groups, h * w).unbind(2)
        affinity = torch.softmax(signed_sqrt(q @ k.transpose(-1, -2) / math.sqrt(h * w)), dim=-1)
        return x + torch.relu(self.norm((affinity @ v).reshape(b, c, h, w)))


class InteractiveChannelTransformation(nn.Module):
    """ICON: a round within groups of consecutive channels, then one with the grouping transposed
    (channel j of every group together), so information crosses group boundaries."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.groups = math.gcd(channels, max(channels // 64, 16))  # the reference's max(C/64, 16) heads
        self.within = ChannelAttention(channels, self.groups)
        self.across = ChannelAttention(channels, channels // self.groups)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        x = self.within(x)
        x = x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)
        x = self.across(x)
        return x.view(b, c // self.groups, self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def refine_stage(blocks: list[nn.Module], channels: int) -> nn.Sequential:
    """A copy of the last stage with ICON after every block but the first (after the only one)."""
    layers: list[nn.Module] = []
    for i, block in enumerate(blocks):
        layers.append(copy.deepcopy(block))
        if i > 0 or len(blocks) == 1:
            layers.append(InteractiveChannelTransformation(channels))
    return nn.Sequential(*layers)


class SemiconNetwork(nn.Module):
    def __init__(self, backbone: Backbone, bits: int, alpha: float) -> None:
        super().__init__()
        trunk, blocks, trunk_channels = backbone.trunk()
        channels = backbone.channels
        self.trunk = trunk
        self.global_refine = refine_stage(blocks, channels)
        self.local_refine = refine_stage(blocks, channels)
        self.sem = SuppressionEnhancingMask(trunk_channels, alpha)
        global_bits, *local_bits = bit_split(bits)
        self.global_hash = LinearHead(channels, global_bits)
        self.local_hash = nn.ModuleList(LinearHead(channels, n) for n in local_bits)

    def forward(self, x: Tensor) -> Tensor:
        features = self.trunk(x)
        codes = [self.global_hash(self.global_refine(features).mean((2, 3)))]
        for attention, head in zip(self.sem(features), self.local_hash, strict=True):
            codes.append(head(self.local_refine(features * attention).mean((2, 3))))
        return torch.cat(codes, dim=1)

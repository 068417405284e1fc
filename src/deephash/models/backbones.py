"""Feature extractors: a small CNN for tiny images and torchvision ResNets for real ones.

Every backbone takes float images in [0, 1], shape [B, C, H, W], and normalises them itself, so the
data pipeline never needs to know which network it feeds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn

from deephash.errors import DeephashError
from deephash.registry import Registry

BackboneFactory = Callable[..., "Backbone"]
BACKBONES: Registry[BackboneFactory] = Registry("backbone")
register_backbone = BACKBONES.register

WEIGHT_CHOICES = ("none", "imagenet")


class Backbone(nn.Module):
    out_features: int
    #: channels of the last spatial feature map, before pooling (SEMICON refines that map)
    channels: int

    def trunk(self) -> tuple[nn.Module, list[nn.Module], int]:
        """(a module returning the spatial map before the last stage, the last stage's blocks, the
        map's channels): what SEMICON branches from. A backbone without stages cannot host it."""
        raise DeephashError(f"train.backbone: {type(self).__name__} has no trunk to split (SEMICON needs one)")


def _map_before(backbone: nn.Module, node: str) -> nn.Module:
    """``backbone``'s own forward cut at ``node`` (its preprocessing kept), returning that map."""
    from torchvision.models.feature_extraction import create_feature_extractor  # 1.4 s to import: only here

    return _Map(create_feature_extractor(backbone, {node: "map"}))


class _Map(nn.Module):
    """The feature extractor's output dict reduced to its one map."""

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, x: Tensor) -> Tensor:
        return self.extractor(x)["map"]


class SmallCNN(Backbone):
    """Five 3x3 conv blocks with batch norm and two 2x2 poolings: enough for 8x8 to 32x32 images.

    The last map is average-pooled to a ``grid`` of cells and the cells are concatenated, not pooled
    globally: on digit-pairs the class is the ordered pair (left digit, right digit), and a global
    average cannot tell a 3 on the left from a 3 on the right. The default 2 x 2 grid keeps
    left/right and top/bottom (2x2 mosaics); on 8x16 images each cell is a 1x2 patch of the 2x4 map.
    """

    def __init__(self, in_channels: int, width: int = 32, grid: tuple[int, int] | list[int] = (2, 2)) -> None:
        super().__init__()
        rows, cols = _grid(grid)

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *block(in_channels, w),
            *block(w, w),
            nn.MaxPool2d(2, ceil_mode=True),
            *block(w, 2 * w),
            *block(2 * w, 2 * w),
            nn.MaxPool2d(2, ceil_mode=True),
            *block(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d((rows, cols)),
            nn.Flatten(),
        )
        self.channels = 4 * w
        self.out_features = 4 * w * rows * cols

    def forward(self, x: Tensor) -> Tensor:
        return self.features((x - 0.5) / 0.25)

    def trunk(self) -> tuple[nn.Module, list[nn.Module], int]:
        """Everything before the last conv block; that block is the last stage."""
        layers = list(self.features)
        last_conv = max(i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d))
        pool = next(i for i in range(last_conv, len(layers)) if isinstance(layers[i], nn.AdaptiveAvgPool2d))
        channels = cast(nn.Conv2d, layers[last_conv]).in_channels
        return _map_before(self, f"features.{last_conv - 1}"), [nn.Sequential(*layers[last_conv:pool])], channels


def _grid(grid: tuple[int, int] | list[int]) -> tuple[int, int]:
    if (
        not isinstance(grid, list | tuple)
        or len(grid) != 2
        or not all(isinstance(g, int) and not isinstance(g, bool) and g >= 1 for g in grid)
    ):
        raise DeephashError(f"backbone.grid: expected [rows, cols] of positive integers, got {grid!r}")
    return grid[0], grid[1]


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TorchvisionResNet(Backbone):
    """A torchvision ResNet up to global average pooling; grey images are repeated to 3 channels."""

    # buffers (register_buffer): declared so that type checkers see tensors, not Tensor | Module
    mean: Tensor
    std: Tensor

    def __init__(self, arch: str, in_channels: int, weights: str, weights_file: str | None) -> None:
        super().__init__()
        import torchvision

        builder = getattr(torchvision.models, arch)
        net = builder(weights=_imagenet_weights(arch) if weights == "imagenet" else None)
        if weights_file:
            state = torch.load(weights_file, map_location="cpu", weights_only=True)
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0]
                raise DeephashError(f"not {arch} weights: {first}", path=weights_file) from None
        self.out_features = self.channels = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net
        self.repeat = 3 if in_channels == 1 else 1
        if in_channels not in (1, 3):
            raise DeephashError(f"train.backbone: {arch} takes 1 or 3 channels, not {in_channels}")
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.repeat > 1:
            x = x.repeat(1, self.repeat, 1, 1)
        return self.net((x - self.mean) / self.std)

    def trunk(self) -> tuple[nn.Module, list[nn.Module], int]:
        """Through layer3; layer4 is the last stage."""
        layer4 = self.net.layer4
        return _map_before(self, "net.layer3"), list(layer4), layer4[0].conv1.in_channels


def _imagenet_weights(arch: str) -> object:
    """The torchvision weights enum, checked to be on disk first: this machine may be offline."""
    import torchvision

    enum = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
    filename = os.path.basename(enum.url)
    expected = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if not expected.exists():
        raise DeephashError(
            f"ImageNet weights for {arch} are not on disk; copy {filename} there"
            " (or set TORCH_HOME), or use weights_file / weights: none",
            path=expected,
        )
    return enum


@register_backbone("smallcnn")
def smallcnn(
    in_channels: int = 3, width: int = 32, grid: tuple[int, int] | list[int] = (2, 2), **_: object
) -> Backbone:
    return SmallCNN(in_channels, width=width, grid=grid)


def _resnet(arch: str) -> BackboneFactory:
    def factory(in_channels: int = 3, weights: str = "none", weights_file: str | None = None, **_: object) -> Backbone:
        return TorchvisionResNet(arch, in_channels, weights, weights_file)

    factory.__name__ = arch
    return factory


for _arch in ("resnet18", "resnet34", "resnet50"):
    register_backbone(_arch)(_resnet(_arch))


def create_backbone(
    name: str,
    in_channels: int,
    weights: str = "none",
    weights_file: str | None = None,
    key: str = "backbone",
    **options: object,
) -> Backbone:
    """Build a registered backbone; ``key`` names the params key for error messages."""
    factory = BACKBONES.get(name, key=key)
    if weights not in WEIGHT_CHOICES:
        raise DeephashError(f"{key}: weights must be one of {WEIGHT_CHOICES}, got {weights!r}")
    if weights_file and not Path(weights_file).exists():
        raise DeephashError("weights file not found", path=weights_file)
    return factory(in_channels=in_channels, weights=weights, weights_file=weights_file, **options)


def list_backbones() -> list[str]:
    return BACKBONES.names()

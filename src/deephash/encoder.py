"""A trained network with its preprocessing folded in: uint8 images in, packed uint8 codes out.

This is the one module that the export (ONNX, TorchScript) and the search service run, so a deployed
encoder, the service and the pipeline's ``export`` stage compute the same codes: images are uint8
NHWC, exactly the layout of the pipeline's image cache (``data/cache/<part>.npy``) and of a decoded
RGB or grey picture, so a caller never transposes or scales; the module converts to float in [0, 1],
centre-crops to the training crop and packs sign bits in ``numpy.packbits`` order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from deephash.checkpoint import CONFIG_FILE, load_model
from deephash.data.cache import fit_shape
from deephash.data.images import decode_image
from deephash.errors import DeephashError


class Encoder(nn.Module):
    """``forward(images)``: uint8 [B, H, W, C] -> packed uint8 codes [B, bits / 8] (bit = [u >= 0])."""

    weights: Tensor  # a buffer: the bit weights 128 .. 1 of one packed byte

    def __init__(self, network: nn.Module, bits: int, crop: int = 0) -> None:
        super().__init__()
        self.network, self.bits, self.crop = network.eval(), bits, crop
        self.register_buffer("weights", 2 ** torch.arange(7, -1, -1, dtype=torch.int32), persistent=False)

    def outputs(self, images: Tensor) -> Tensor:
        """The network's real-valued outputs u [B, bits] (codes are their signs), as ``predict`` computes them."""
        x = images.permute(0, 3, 1, 2).float().div(255.0)
        if self.crop:
            top, left = (x.shape[2] - self.crop) // 2, (x.shape[3] - self.crop) // 2
            x = x[:, :, top : top + self.crop, left : left + self.crop]
        return self.network(x).float()

    def forward(self, images: Tensor) -> Tensor:
        signs = (self.outputs(images) >= 0).to(torch.int32).reshape(-1, self.bits // 8, 8)
        return (signs * self.weights).sum(dim=2).to(torch.uint8)


def load_encoder(model: str | Path) -> tuple[Encoder, dict[str, Any]]:
    """The encoder of a trained model directory, with its config (``image_shape``, ``channels``, ...)."""
    network, _, config = load_model(model)
    return Encoder(network, int(config["bits"]), int(config["train"]["crop"])), config


def input_shape(config: dict[str, Any], model: str | Path) -> tuple[int, int, int]:
    """(height, width, channels) the encoder takes: the cached images' shape, recorded at training."""
    if "image_shape" not in config:
        raise DeephashError(
            "config.json has no image_shape (retrain with this deephash)", path=Path(model) / CONFIG_FILE
        )
    height, width = config["image_shape"]
    return int(height), int(width), int(config["channels"])


def prepare_image(source: Path | BinaryIO, shape: tuple[int, int, int]) -> np.ndarray:
    """An image file decoded, converted to the model's channels and resized as the cache stage resizes."""
    rgb = decode_image(source)
    height, width, channels = shape
    pixels = rgb if channels == 3 else np.asarray(Image.fromarray(rgb).convert("L"))[:, :, None]
    return np.array(fit_shape(pixels, height, width))  # a writable copy, as torch.from_numpy wants

"""Fixed image features for the methods that hash features rather than learn a network end to end:
LSH and ITQ (the floors) and SSDH (its pseudo-similarity, and its encoder).

``pixels`` flattens the raw image in [0, 1] (the fallback for images too small for an ImageNet
network, like the embedded 8x16 digit pairs); ``backbone`` is the training backbone's pooled output,
frozen (meant for a pretrained one: ``train.backbone.weights: imagenet``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.models import Backbone
from deephash.train import TrainConfig, predict_batches

FEATURE_SOURCES = ("pixels", "backbone")


def check_source(source: object, key: str) -> str:
    if source not in FEATURE_SOURCES:
        raise DeephashError(f"{key}: must be one of {FEATURE_SOURCES}, got {source!r}")
    return str(source)


def feature_extractor(source: str, backbone: Backbone | None) -> nn.Module:
    """The frozen module that turns images into features: ``nn.Flatten`` or ``backbone`` itself."""
    if source == "pixels":
        return nn.Flatten()
    if backbone is None:
        raise DeephashError("features: backbone needs a backbone")
    for p in backbone.parameters():
        p.requires_grad_(False)
    return backbone


def image_features(
    extractor: nn.Module,
    data: ImageArrays,
    config: TrainConfig | None = None,
    batch_size: int = 256,
    path: Path | None = None,
) -> np.ndarray:
    """float32 [N, F] features of every image, preprocessed (centre crop) as ``config`` says.

    Written batch by batch into one array; with ``path``, that array is a memory-mapped ``.npy`` file
    there, so a large set's features (5,000 x 150,528 pixels of 224 px images: 3 GB) never sit in RAM.
    """
    features: np.ndarray | None = None
    for start, batch in predict_batches(extractor, data, config or TrainConfig(), batch_size, desc="features"):
        rows = batch.numpy().reshape(len(batch), -1)
        if features is None:
            shape = (len(data), rows.shape[1])
            features = (
                np.empty(shape, np.float32)
                if path is None
                else np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
            )
        features[start : start + len(rows)] = rows
    if features is None:
        return np.zeros((0, 0), np.float32)
    return features


class FeatureHashNetwork(nn.Module):
    """Frozen features, centred on the training mean, then a linear map: u = (f(x) - mean) W^T + b.

    The feature count F is known only once images are seen, so ``mean``, ``weight`` and ``bias`` start
    empty and take their shape from ``fit_projection`` (before training) or from the saved state
    (when a model is loaded). The extractor stays in eval mode while the head trains: a frozen
    trunk's batch-norm statistics must not drift. With ``trainable=False`` (LSH, ITQ) the map is a
    buffer, so the network has nothing for SGD to change.
    """

    # buffers or parameters, declared so that type checkers see tensors, not Tensor | Module
    mean: Tensor
    weight: Tensor
    bias: Tensor

    def __init__(self, extractor: nn.Module, bits: int, trainable: bool) -> None:
        super().__init__()
        self.extractor = extractor
        self.bits = bits
        self.trainable = trainable
        self.register_buffer("mean", torch.zeros(0))
        self._set("weight", torch.zeros(bits, 0))
        self._set("bias", torch.zeros(bits))

    def _set(self, name: str, value: Tensor) -> None:
        if self.trainable:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def fit_projection(self, mean: np.ndarray, weight: np.ndarray) -> None:
        """Centre on ``mean`` [F] and project with ``weight`` [bits, F] (bias zero)."""
        if weight.shape != (self.bits, len(mean)):
            raise DeephashError(f"projection of shape {weight.shape} for {self.bits} bits x {len(mean)} features")
        device = self.mean.device
        self.mean = torch.as_tensor(mean, dtype=torch.float32).to(device)
        self._set("weight", torch.as_tensor(weight, dtype=torch.float32).to(device))
        self._set("bias", torch.zeros(self.bits, device=device))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Take the saved shapes first, so a model saved after fitting loads into a fresh network."""
        if prefix + "weight" in state_dict and prefix + "mean" in state_dict:
            self.fit_projection(
                np.zeros(state_dict[prefix + "mean"].shape, np.float32),
                np.zeros(state_dict[prefix + "weight"].shape, np.float32),
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def train(self, mode: bool = True) -> FeatureHashNetwork:
        super().train(mode)
        self.extractor.eval()
        return self

    def features(self, x: Tensor) -> Tensor:
        """Centred features [B, F]."""
        return self.extractor(x).flatten(1) - self.mean

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(self.features(x), self.weight, self.bias)

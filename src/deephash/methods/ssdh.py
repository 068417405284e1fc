"""SSDH: Semantic Structure-based unsupervised Deep Hashing (Yang et al., IJCAI 2018).

Pre-stage (``pseudo_similarity``): the cosine distances of all pairs of training-image features
follow two half-Gaussians that meet at the histogram's mode m. Each side is mirrored around m and
fitted; pairs closer than m - alpha sd_left are pseudo-similar (+1), pairs farther than
m + beta sd_right pseudo-dissimilar (-1), everything between is unknown (0) and never trained on.
Features come from a pretrained backbone when its weights are on disk (``features: backbone``), or
from the raw pixels (``features: pixels``, the fallback for images too small for an ImageNet
network, like the embedded 8x8 digits).

Training fits H = V V^T / q, V = tanh(u), to the pseudo-similarity on confident pairs only:
L = sum_ij |S_ij| (H_ij - S_ij)^2 / B^2. Neither the pre-stage nor training reads a label; only
``label_agreement`` does, to report how good the pseudo-similarity is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from deephash.config import from_mapping
from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.methods.base import HashingMethod, register_method
from deephash.models import Backbone
from deephash.train import Batch, TrainConfig, predict

PSEUDO_FILE = "pseudo_similarity.npy"
FEATURE_SOURCES = ("pixels", "backbone")


@dataclass
class PseudoSimilarityConfig:
    """The pre-stage's params (``ssdh.pseudo_similarity``); ``backbone`` is used with ``features: backbone``."""

    features: str = "pixels"
    backbone: dict[str, Any] = field(default_factory=lambda: {"name": "resnet18", "weights": "imagenet"})
    alpha: float = 2.0
    beta: float = 2.0
    bins: int = 100
    batch_size: int = 256

    @classmethod
    def from_params(cls, params: dict[str, Any], section: str = "ssdh.pseudo_similarity") -> PseudoSimilarityConfig:
        config = from_mapping(cls, params, section)
        if config.features not in FEATURE_SOURCES:
            raise DeephashError(f"{section}.features: must be one of {FEATURE_SOURCES}, got {config.features!r}")
        if config.bins < 2:
            raise DeephashError(f"{section}.bins: must be >= 2, got {config.bins}")
        if config.alpha < 0 or config.beta < 0:
            raise DeephashError(f"{section}: alpha and beta must be >= 0, got {config.alpha}, {config.beta}")
        return config


def image_features(
    data: ImageArrays, source: str, backbone: Backbone | None = None, batch_size: int = 256
) -> np.ndarray:
    """[N, F] features of every image: flattened pixels in [0, 1], or the backbone's pooled output."""
    if source == "pixels":
        return data.images.reshape(len(data), -1).astype(np.float32) / 255.0
    if source != "backbone":
        raise DeephashError(f"ssdh.pseudo_similarity.features: must be one of {FEATURE_SOURCES}, got {source!r}")
    if backbone is None:
        raise DeephashError("ssdh.pseudo_similarity.features: backbone features need a backbone")
    return predict(backbone, data, TrainConfig(), batch_size=batch_size, desc="features").numpy()


def cosine_distances(features: np.ndarray) -> np.ndarray:
    """1 - cos for every pair (float32 [N, N]); an all-zero feature is orthogonal to everything."""
    x = features.astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return np.clip(1.0 - x @ x.T, 0.0, 2.0)


def pseudo_similarity(
    features: np.ndarray, alpha: float = 2.0, beta: float = 2.0, bins: int = 100
) -> tuple[np.ndarray, dict[str, float]]:
    """int8 [N, N] pseudo-similarity in {-1, 0, +1} (diagonal +1) of features, and its fit."""
    return threshold_distances(cosine_distances(features), alpha, beta, bins)


def threshold_distances(
    dist: np.ndarray, alpha: float = 2.0, beta: float = 2.0, bins: int = 100
) -> tuple[np.ndarray, dict[str, float]]:
    """The half-Gaussian fit on both sides of the histogram mode of a distance matrix, thresholded."""
    if len(dist) < 3:
        raise DeephashError(f"pseudo-similarity needs at least 3 training images, got {len(dist)}")
    pairs = dist[np.triu_indices(len(dist), k=1)]
    counts, edges = np.histogram(pairs, bins=bins, range=(float(pairs.min()), float(pairs.max()) + 1e-6))
    peak = int(np.argmax(counts))
    mode = float((edges[peak] + edges[peak + 1]) / 2)
    # A side mirrored around the mode is a symmetric sample centred on it: its sd is the RMS offset.
    left, right = pairs[pairs <= mode] - mode, pairs[pairs > mode] - mode
    sd_left = float(np.sqrt(np.mean(left**2))) if left.size else 0.0
    sd_right = float(np.sqrt(np.mean(right**2))) if right.size else 0.0
    low, high = mode - alpha * sd_left, mode + beta * sd_right
    s = np.where(dist < low, 1, np.where(dist > high, -1, 0)).astype(np.int8)
    np.fill_diagonal(s, 1)
    upper = s[np.triu_indices(len(s), k=1)]
    stats = {
        "mode": mode,
        "sd_left": sd_left,
        "sd_right": sd_right,
        "similar_below": float(low),
        "dissimilar_above": float(high),
        "similar_fraction": float((upper == 1).mean()),
        "dissimilar_fraction": float((upper == -1).mean()),
    }
    return s, stats


def label_agreement(pseudo: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """How often pseudo-similar pairs share a class and pseudo-dissimilar ones share none (diagnosis only)."""
    shares = (labels.astype(np.float32) @ labels.T.astype(np.float32)) > 0
    upper = np.triu(np.ones_like(shares), k=1)
    similar, dissimilar = upper & (pseudo == 1), upper & (pseudo == -1)
    return {
        "similar_precision": float(shares[similar].mean()) if similar.any() else 0.0,
        "dissimilar_precision": float((~shares[dissimilar]).mean()) if dissimilar.any() else 0.0,
        "label_similar_fraction": float(shares[upper].mean()),
    }


def pseudo_similarity_loss(relaxed: Tensor, target: Tensor) -> Tensor:
    """sum |S| (V V^T / q - S)^2 / B^2 over the batch's pairs: unknown pairs (S = 0) weigh nothing."""
    inner = relaxed @ relaxed.T / relaxed.shape[1]
    return (target.abs() * (inner - target) ** 2).sum() / len(relaxed) ** 2


@register_method("ssdh")
class SSDH(HashingMethod):
    prestage: ClassVar[str | None] = "pseudo_similarity"
    supervised: ClassVar[bool] = False
    pseudo: Tensor  # a buffer (register_buffer), declared so that type checkers see a tensor

    def __init__(self, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(bits, num_classes, params)
        self.register_buffer("pseudo", torch.zeros(0, 0, dtype=torch.int8))

    def load_targets(self, directory: Path, train_labels: np.ndarray) -> None:
        path = Path(directory) / PSEUDO_FILE
        if not path.exists():
            raise DeephashError("no pseudo-similarity for ssdh (run its pseudo_similarity stage)", path=path)
        pseudo = np.load(path)
        if pseudo.shape != (len(train_labels), len(train_labels)):  # the count only: labels are never read
            raise DeephashError(f"pseudo-similarity of shape {pseudo.shape} for {len(train_labels)} images", path=path)
        self.pseudo = torch.from_numpy(pseudo.astype(np.int8)).to(self.pseudo.device)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        target = self.pseudo[batch.index][:, batch.index].float()
        return pseudo_similarity_loss(torch.tanh(outputs), target)

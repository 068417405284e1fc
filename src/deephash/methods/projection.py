"""The floors every learned method must clear: LSH and ITQ, fitted in closed form on fixed features.

Both hash the same features SSDH uses (``features: pixels | backbone``, see ``features.py``),
centred on the training mean. LSH (Charikar 2002): sign of a seeded N(0, 1) projection. ITQ (Gong
& Lazebnik, CVPR 2011): PCA to q dimensions V = X P, then an orthogonal rotation R minimising
||B - V R||_F^2, alternating B = sign(V R) and R from the SVD of V^T B, from a seeded random
rotation. They train in the train stage like every method: ``begin_training`` fits the projection
from the training images, there are no SGD epochs (``<name>.train.epochs: 0``), and the saved
network (features, centring, projection) encodes in export unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np
from torch import nn

from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.methods.base import HashingMethod, register_method
from deephash.methods.features import FeatureHashNetwork, check_source, feature_extractor, image_features
from deephash.models import Backbone
from deephash.train import Batch, TrainConfig


def random_rotation(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random orthogonal [size, size] matrix (QR of a Gaussian, signs fixed so it is uniform)."""
    q, r = np.linalg.qr(rng.normal(size=(size, size)))
    return q * np.sign(np.diag(r))


def pca(centred: np.ndarray, dims: int) -> np.ndarray:
    """[F, dims] top principal directions of centred rows, largest variance first."""
    if dims > centred.shape[1]:
        raise DeephashError(
            f"itq: {dims} bits need at least {dims} feature dimensions, the features have {centred.shape[1]}"
        )
    values, vectors = np.linalg.eigh(centred.T @ centred)
    return vectors[:, np.argsort(values)[::-1][:dims]]


def itq_rotation(projected: np.ndarray, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """ITQ's rotation R [q, q] of PCA-projected rows V [N, q]: ``iterations`` of B = sign(VR), then
    the orthogonal Procrustes solution R = S Ŝ^T of V^T B = S Ω Ŝ^T."""
    rotation = random_rotation(projected.shape[1], rng)
    for _ in range(iterations):
        codes = np.where(projected @ rotation >= 0, 1.0, -1.0)
        left, _, right = np.linalg.svd(projected.T @ codes)
        rotation = left @ right
    return rotation


def lsh_projection(centred: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """[F, bits] N(0, 1) directions (the data only gives F)."""
    return rng.normal(size=(centred.shape[1], bits))


def itq_projection(centred: np.ndarray, bits: int, rng: np.random.Generator, iterations: int = 50) -> np.ndarray:
    """[F, bits] PCA directions times ITQ's rotation."""
    directions = pca(centred, bits)
    return directions @ itq_rotation(centred @ directions, iterations, rng)


def fit_features(model: nn.Module, data: ImageArrays, config: TrainConfig, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(training features centred on their mean, the mean), float64, from the network's own extractor."""
    if not isinstance(model, FeatureHashNetwork):
        raise DeephashError(f"{name}: expected the network of build_network, got {type(model).__name__}")
    features = image_features(model.extractor, data, config).astype(np.float64)
    mean = features.mean(axis=0)
    return features - mean, mean


class ProjectionMethod(HashingMethod):
    """A method whose network is fixed features + centring + a projection fitted in closed form."""

    supervised: ClassVar[bool] = False
    floor: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {"features": "pixels", "projection_seed": 0}

    def __init__(self, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(bits, num_classes, params)
        check_source(self.hparams["features"], f"{self.name}.train.features")

    def build_network(self, backbone: Backbone) -> nn.Module:
        return FeatureHashNetwork(feature_extractor(str(self.hparams["features"]), backbone), self.bits, False)

    def projection(self, centred: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """[F, bits] projection of the centred training features."""
        raise NotImplementedError

    def begin_training(self, model: nn.Module, data: ImageArrays, config: TrainConfig) -> None:
        if config.epochs:
            raise DeephashError(f"{self.name}.train.epochs: {self.name} is fitted in closed form, set 0")
        centred, mean = fit_features(model, data, config, self.name)
        weight = self.projection(centred, np.random.default_rng(int(self.hparams["projection_seed"])))
        cast(FeatureHashNetwork, model).fit_projection(mean, weight.T)

    def loss(self, outputs: Any, batch: Batch) -> Any:
        raise DeephashError(f"{self.name} has no loss: it is fitted in closed form")


@register_method("lsh")
class LSH(ProjectionMethod):
    def projection(self, centred: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return lsh_projection(centred, self.bits, rng)


@register_method("itq")
class ITQ(ProjectionMethod):
    defaults: ClassVar[dict[str, Any]] = {**ProjectionMethod.defaults, "iterations": 50}

    def projection(self, centred: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return itq_projection(centred, self.bits, rng, int(self.hparams["iterations"]))

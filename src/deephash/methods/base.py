"""The contract every hashing method fulfils, and the registry that names them.

A method says which head sits on the backbone, which loss it minimises, how it builds its
targets (centres, pairs, triplets, pseudo-similarity, asymmetric database codes) and which
pre-stage, if any, must run before it trains. Adding a method is one module with one
``@register_method`` class plus one params section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from torch import Tensor, nn

from deephash.codes import pack_codes
from deephash.config import check_bits, check_keys
from deephash.data.arrays import ImageArrays
from deephash.models import Backbone, HashingNetwork, LinearHead
from deephash.registry import Registry
from deephash.train import Batch, Objective, TrainConfig, predict

PRESTAGES = ("centers", "pseudo_similarity")


class HashingMethod(Objective):
    """Loss and targets of one method at one code length; ``params`` is its ``<name>.train`` dict."""

    name: ClassVar[str]
    #: the pre-stage whose outputs land in ``targets/<name>/`` (None: nothing to precompute)
    prestage: ClassVar[str | None] = None
    #: hyperparameters with their defaults (the method's own keys in ``<name>.train``)
    defaults: ClassVar[dict[str, Any]] = {}
    #: a trivial baseline (no learning beyond closed form): the report flags learned methods below it
    floor: ClassVar[bool] = False

    def __init__(self, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.bits = check_bits(bits)
        self.num_classes = num_classes
        params = dict(params or {})
        check_keys(params, self.defaults, f"{self.name}.train")
        self.hparams: dict[str, Any] = {**self.defaults, **params}

    def build_network(self, backbone: Backbone) -> nn.Module:
        return HashingNetwork(backbone, LinearHead(backbone.out_features, self.bits))

    def load_targets(self, directory: Path, train_labels: np.ndarray) -> None:
        """Read what the pre-stage wrote to ``targets/<name>/`` (called before training)."""

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        raise NotImplementedError

    def train_codes(self) -> np.ndarray | None:
        """Learned packed codes of the training images, for asymmetric methods (else None)."""
        return None

    def encode(
        self, network: nn.Module, data: ImageArrays, config: TrainConfig, batch_size: int = 256, desc: str = "encode"
    ) -> np.ndarray:
        """Packed binary codes of ``data``: bit = [u >= 0], i.e. sign(u)."""
        return pack_codes(predict(network, data, config, batch_size=batch_size, desc=desc).numpy())

    def begin_epoch(self, epoch: int, model: nn.Module, data: ImageArrays) -> None:
        """Per-epoch work outside SGD; the default has none."""


def shares_label(rows: Tensor, columns: Tensor) -> Tensor:
    """1 where a row's and a column's multi-hot labels share a class, else 0 (float [R, C]).

    This is the relevance the evaluation uses, so every supervised method trains on it.
    """
    return (rows @ columns.T > 0).float()


METHODS: Registry[type[HashingMethod]] = Registry("method")


def register_method(name: str):  # type: ignore[no-untyped-def]
    def decorator(cls: type[HashingMethod]) -> type[HashingMethod]:
        cls.name = name
        if cls.prestage not in (None, *PRESTAGES):
            raise ValueError(f"{name}: unknown pre-stage {cls.prestage!r}")
        return METHODS.register(name)(cls)

    return decorator

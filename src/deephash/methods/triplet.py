"""DNNH-style triplet hashing (Lai et al., CVPR 2015): a ranking hinge on relaxed codes.

Relaxed codes are h = tanh(u) in (-1, 1)^q; for binary codes |h_i - h_j|^2 is 4x their Hamming
distance. For every triplet mined in the batch (anchor a, positive p sharing a class with a,
negative n sharing none) the loss is max(0, m - (|h_a - h_n|^2 - |h_a - h_p|^2)), averaged over all
valid triplets. A fixed margin would shrink relative to longer codes, so m = ``margin`` * bits
(default 0.4 q, a little above q/4: the negative must end up 0.1 q bits farther than the positive).
``head: divide_encode`` gives DNNH's divide-and-encode layer instead of a linear one. Both heads
keep PyTorch's default initialisation: with SHC's N(0, 0.01) every code starts at ~0, where all
distances and all hinge gradients vanish. Codes are sign(u).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from deephash.errors import DeephashError
from deephash.methods.base import HashingMethod, register_method, shares_label
from deephash.models import Backbone, HashingNetwork
from deephash.models.heads import DivideEncodeHead
from deephash.train import Batch

HEADS: dict[str, type[nn.Linear]] = {"linear": nn.Linear, "divide_encode": DivideEncodeHead}


def triplet_mask(similar: Tensor) -> Tensor:
    """[B, B, B] bool: (a, p, n) with p != a similar to a and n dissimilar to a."""
    eye = torch.eye(len(similar), dtype=torch.bool, device=similar.device)
    positive = (similar > 0) & ~eye
    negative = similar == 0
    return positive[:, :, None] & negative[:, None, :]


def triplet_ranking_loss(relaxed: Tensor, similar: Tensor, margin: float) -> Tensor:
    """Mean hinge over every valid in-batch triplet; 0 (with a graph) when the batch has none."""
    sq = (relaxed[:, None, :] - relaxed[None, :, :]).pow(2).sum(-1)
    mask = triplet_mask(similar)
    if not mask.any():
        return relaxed.sum() * 0.0
    hinge = nn.functional.relu(margin - (sq[:, None, :] - sq[:, :, None]))
    return hinge[mask].mean()


@register_method("triplet")
class TripletHashing(HashingMethod):
    defaults: ClassVar[dict[str, Any]] = {"margin": 0.4, "head": "linear"}

    def __init__(self, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(bits, num_classes, params)
        if self.hparams["head"] not in HEADS:
            raise DeephashError(f"triplet.train.head: must be one of {sorted(HEADS)}, got {self.hparams['head']!r}")
        if not float(self.hparams["margin"]) > 0:
            raise DeephashError(f"triplet.train.margin: must be > 0, got {self.hparams['margin']}")

    def build_network(self, backbone: Backbone) -> nn.Module:
        return HashingNetwork(backbone, HEADS[self.hparams["head"]](backbone.out_features, self.bits))

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        margin = float(self.hparams["margin"]) * self.bits
        return triplet_ranking_loss(torch.tanh(outputs), shares_label(batch.labels, batch.labels), margin)

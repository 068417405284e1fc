"""HashNet (Cao et al., ICCV 2017): weighted pairwise logistic loss with continuation.

h = tanh(beta u) and theta_ij = alpha <h_i, h_j> over every pair i != j of the batch, alpha =
``alpha_scale`` / bits (10 / bits: theta spans +-10 whatever the code length). The negative
log-likelihood log(1 + e^theta) - s_ij theta switches to its linear asymptote theta (1 - s_ij) above
``threshold``, as the reference does. Similar and dissimilar pairs are weighted |S|/|S1| and
|S|/|S0|, so each side carries half the loss however rare similar pairs are (1 in C for C balanced
classes). beta rises on the reference's continuation schedule so tanh(beta u) approaches sign(u),
the code used at test time.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from deephash.errors import DeephashError
from deephash.methods.base import HashingMethod, register_method, shares_label
from deephash.train import Batch


def continuation_scale(step: int, step_size: int, gamma: float, power: float, init_scale: float = 1.0) -> float:
    """beta at iteration ``step``: reset every ``step_size`` iterations to init (1 + gamma t)^power."""
    t = step - step % step_size
    return init_scale * (1.0 + gamma * t) ** power


def pairwise_logistic_loss(codes: Tensor, similar: Tensor, alpha: float, threshold: float) -> Tensor:
    """HashNet's weighted pairwise negative log-likelihood of relaxed codes [B, q], pairs i != j."""
    theta = alpha * codes @ codes.T
    off_diagonal = ~torch.eye(len(codes), dtype=torch.bool, device=codes.device)
    # softplus turns linear above its threshold: the reference's guard against exp overflow
    nll = nn.functional.softplus(theta, threshold=threshold) - similar * theta
    positive = (similar > 0) & off_diagonal
    negative = (similar == 0) & off_diagonal
    total = float(off_diagonal.sum())
    weights = torch.where(positive, total / max(int(positive.sum()), 1), 0.0)
    weights = torch.where(negative, total / max(int(negative.sum()), 1), weights)
    return (weights * nll).sum() / total


@register_method("hashnet")
class HashNet(HashingMethod):
    defaults: ClassVar[dict[str, Any]] = {
        "alpha_scale": 10.0,
        "threshold": 15.0,
        "step_size": 200,
        "gamma": 0.005,
        "power": 0.5,
        "init_scale": 1.0,
    }

    def __init__(self, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(bits, num_classes, params)
        if int(self.hparams["step_size"]) < 1:
            raise DeephashError(f"hashnet.train.step_size: must be >= 1, got {self.hparams['step_size']}")

    def scale(self, step: int) -> float:
        h = self.hparams
        return continuation_scale(
            step, int(h["step_size"]), float(h["gamma"]), float(h["power"]), float(h["init_scale"])
        )

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        codes = torch.tanh(self.scale(self.step) * outputs)
        alpha = float(self.hparams["alpha_scale"]) / self.bits
        return pairwise_logistic_loss(
            codes, shares_label(batch.labels, batch.labels), alpha, float(self.hparams["threshold"])
        )

"""SEMICON (Shen et al., ECCV 2022): the SEMICON network trained with ADSH's asymmetric loss.

The training images are the database of the asymmetric formulation and have learned discrete
codes B in {+-1}^{n x q}. Each outer iteration samples Omega (``num_samples`` training images),
trains the network for ``max_epoch`` epochs on the images of Omega, then updates B in closed form,
one bit column at a time (ADSH's discrete cyclic coordinate descent). With S the soft similarity of
Omega to all n images (1 if they share a class, else -r, r = #similar / #dissimilar pairs of Omega),
u = tanh(output):

    L = [ sum_{i in batch, j} (q S_ij - u_i . b_j)^2 + gamma sum_{i in batch} (u_i - b_i)^2 ] / (n |batch|) * 12 / q

and column k of B becomes sign(Q_k - B_{-k} U_{-k}^T U_k), Q = q S^T U + gamma U_bar, where U holds
the outputs recorded for Omega and U_bar puts them at Omega's rows (zeros elsewhere). Queries are
encoded as sign(u); training images in the database keep their learned codes (``train_codes``).
The number of outer iterations (the reference's max-iter) is ``epochs`` / ``max_epoch``. The shared
loop walks the whole training set every epoch and images outside Omega add nothing to the loss;
when ``num_samples`` covers the training set (small sets, the default digits) that costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from deephash.codes import pack_codes
from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.methods.base import HashingMethod, register_method, shares_label
from deephash.models import Backbone
from deephash.models.semicon import SemiconNetwork
from deephash.train import Batch


def soft_similarity(rows: Tensor, columns: Tensor, ratio: float) -> Tensor:
    """ADSH's target: 1 for pairs that share a class, -ratio for the others."""
    similar = shares_label(rows, columns)
    return similar * (1 + ratio) - ratio


def similar_ratio(rows: Tensor, columns: Tensor) -> float:
    """#similar / #dissimilar pairs between ``rows`` and ``columns`` (1 if none are dissimilar)."""
    similar = float(shares_label(rows, columns).sum())
    dissimilar = rows.shape[0] * columns.shape[0] - similar
    return similar / dissimilar if dissimilar else 1.0


def asymmetric_loss(relaxed: Tensor, codes: Tensor, own_codes: Tensor, target: Tensor, gamma: float) -> Tensor:
    """ADSH's loss of a batch: relaxed [B, q] against every database code [n, q], target [B, n]."""
    bits = relaxed.shape[1]
    square = (relaxed @ codes.T - bits * target).pow(2).sum()
    quantization = gamma * (relaxed - own_codes).pow(2).sum()
    return (square + quantization) / (codes.shape[0] * relaxed.shape[0]) * 12 / bits


def update_codes(codes: Tensor, relaxed: Tensor, rows: Tensor, target: Tensor, gamma: float) -> Tensor:
    """ADSH's closed-form bit-wise update of the database codes [n, q] (a new tensor).

    ``relaxed`` [m, q] are the outputs recorded for training images ``rows`` [m], ``target`` their
    soft similarity to all n images [m, n]. A coordinate whose optimum is exactly 0 keeps its value.
    """
    bits = codes.shape[1]
    spread = torch.zeros_like(codes)
    spread[rows] = relaxed
    q = bits * target.T @ relaxed + gamma * spread
    codes = codes.clone()
    for k in range(bits):
        rest = torch.arange(bits, device=codes.device) != k
        best = q[:, k] - codes[:, rest] @ (relaxed[:, rest].T @ relaxed[:, k])
        codes[:, k] = torch.where(best == 0, codes[:, k], torch.sign(best))
    return codes


@register_method("semicon")
class Semicon(HashingMethod):
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": 0.15,
        "gamma": 200.0,
        "num_samples": 2000,
        "max_epoch": 3,
        "sample_seed": 0,
    }
    # buffers (register_buffer): declared so that type checkers see tensors, not Tensor | Module
    labels: Tensor
    codes: Tensor
    relaxed: Tensor
    sample: Tensor
    stamp: Tensor

    def __init__(self, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(bits, num_classes, params)
        for key in ("num_samples", "max_epoch"):
            if int(self.hparams[key]) < 1:
                raise DeephashError(f"semicon.train.{key}: must be >= 1, got {self.hparams[key]}")
        self.generator = torch.Generator().manual_seed(int(self.hparams["sample_seed"]))
        self.register_buffer("labels", torch.zeros(0, num_classes))
        self.register_buffer("codes", torch.zeros(0, bits))
        self.register_buffer("relaxed", torch.zeros(0, bits))
        self.register_buffer("sample", torch.zeros(0, dtype=torch.bool))
        self.register_buffer("stamp", torch.zeros(0, dtype=torch.long))  # step of an image's last output; -1: none
        self.ratio = 1.0

    def build_network(self, backbone: Backbone) -> nn.Module:
        return SemiconNetwork(backbone, self.bits, float(self.hparams["alpha"]))

    def load_targets(self, directory: Path, train_labels: np.ndarray) -> None:
        """Nothing is precomputed; keeps the training labels and draws the initial codes B."""
        n = len(train_labels)
        device = self.codes.device
        self.labels = torch.from_numpy(np.asarray(train_labels, dtype=np.float32)).to(device)
        init = torch.randint(0, 2, (n, self.bits), generator=self.generator).float() * 2 - 1
        self.codes = init.to(device)
        self.relaxed = torch.zeros(n, self.bits, device=device)
        self.sample = torch.zeros(n, dtype=torch.bool, device=device)
        self.stamp = torch.full((n,), -1, dtype=torch.long, device=device)

    def begin_epoch(self, epoch: int, model: nn.Module, data: ImageArrays) -> None:
        """Every ``max_epoch`` epochs: update B from the last iteration's outputs, draw a new Omega."""
        if epoch % int(self.hparams["max_epoch"]):
            return
        self._update_codes()
        n = len(self.codes)
        chosen = torch.randperm(n, generator=self.generator)[: int(self.hparams["num_samples"])]
        self.sample = torch.zeros(n, dtype=torch.bool, device=self.codes.device)
        self.sample[chosen.to(self.codes.device)] = True
        self.ratio = similar_ratio(self.labels[self.sample], self.labels)

    def _update_codes(self) -> None:
        """Under DDP every process recorded the outputs of its own shard: each image's latest output is
        taken from the process that made it, so every replica updates B alike (a collective call: every
        process must reach it)."""
        if dist.is_initialized() and dist.get_world_size() > 1:
            latest = self.stamp.clone()
            dist.all_reduce(latest, op=dist.ReduceOp.MAX)
            relaxed = self.relaxed * ((self.stamp == latest) & (latest >= 0)).unsqueeze(1)
            dist.all_reduce(relaxed)
            self.relaxed, self.stamp = relaxed, latest
        seen = self.stamp >= 0
        if not seen.any():
            return
        rows = seen.nonzero().squeeze(1)
        target = soft_similarity(self.labels[rows], self.labels, self.ratio)
        self.codes = update_codes(self.codes, self.relaxed[rows], rows, target, float(self.hparams["gamma"]))
        self.stamp = torch.full_like(self.stamp, -1)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        if len(self.sample) == 0:
            raise DeephashError("semicon: the loss was called before begin_epoch drew a sample")
        keep = self.sample[batch.index]
        if not keep.any():
            return outputs.sum() * 0.0
        index = batch.index[keep]
        relaxed = torch.tanh(outputs[keep])
        target = soft_similarity(batch.labels[keep], self.labels, self.ratio)
        self.relaxed[index] = relaxed.detach()
        self.stamp[index] = self.step
        return asymmetric_loss(relaxed, self.codes, self.codes[index], target, float(self.hparams["gamma"]))

    def train_codes(self) -> np.ndarray:
        """The learned database codes of the training images (after the final update; under DDP, every
        process calls it)."""
        self._update_codes()
        return pack_codes(self.codes.cpu().numpy())

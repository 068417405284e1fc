"""SHC stage 1: a data-dependent class similarity matrix from a classifier's confusions.

For each training image, one logit is masked and the softmax over the remaining classes says which
other classes the image resembles; aggregated per class, centred and scaled per row to [-1, 1],
symmetrised, with a diagonal of 1. Two choices differ between the paper and the released code:

- ``mask``: ``predicted`` masks the arg-max logit (paper); ``label`` masks the ground-truth class
  (code). They agree on correctly classified images.
- ``order``: ``paper`` averages per class, normalises each row, then symmetrises (S is exactly
  symmetric); ``code`` sums per class and symmetrises the raw sums before normalising (S is
  not exactly symmetric, and larger classes weigh more).

A multi-label image contributes to the row of each of its labels; with ``mask: label`` all of its
labels are masked. (The released code reduces such images to their first label.)
"""

from __future__ import annotations

import numpy as np
from torch import Tensor, nn

from deephash.errors import DeephashError
from deephash.models import Backbone, HashingNetwork, LinearHead
from deephash.train import Batch, EpochCallback, ImageArrays, Objective, TrainConfig, fit, predict

MASKS = ("predicted", "label")
ORDERS = ("paper", "code")


def masked_softmax(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Softmax over the unmasked entries of each row; masked entries get probability 0."""
    z = np.where(mask, -np.inf, logits.astype(np.float64))
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def normalize_rows(s: np.ndarray) -> np.ndarray:
    """Centre each row on its mean and scale its largest deviation to exactly +-1."""
    centred = s - s.mean(axis=1, keepdims=True)
    scale = np.abs(centred).max(axis=1, keepdims=True)
    return np.divide(centred, scale, out=np.zeros_like(centred), where=scale > 0)


def machine_independent(s: np.ndarray) -> np.ndarray:
    """S rounded to the nearest float32 value (kept as float64), before it is saved.

    The per-class sums and means are vectorised reductions whose last bits differ between CPUs;
    rounding to float32 (IEEE round-to-nearest, the same everywhere) maps those neighbours to one
    value unless a float32 rounding boundary falls between them (~2^-29 per entry at S ~ 1). It
    keeps what S is built to have: the diagonal and each row's extreme of exactly +-1, symmetry, and
    7 significant digits, far below any difference in class similarity that matters.
    """
    return s.astype(np.float32).astype(np.float64)


def class_similarity(
    logits: np.ndarray, labels: np.ndarray, mask: str = "predicted", order: str = "paper"
) -> np.ndarray:
    """S (C x C) from classifier logits [N, C] and multi-hot labels [N, C] of the training set."""
    if mask not in MASKS:
        raise DeephashError(f"similarity.mask: must be one of {MASKS}, got {mask!r}")
    if order not in ORDERS:
        raise DeephashError(f"similarity.order: must be one of {ORDERS}, got {order!r}")
    labels = labels.astype(bool)
    num = labels.shape[1]
    if num < 2:
        raise DeephashError("a class similarity needs at least 2 classes")
    if mask == "label":
        masked = labels
    else:
        masked = np.zeros_like(labels)
        masked[np.arange(len(logits)), logits.argmax(axis=1)] = True
    probs = masked_softmax(logits, masked)
    sums = labels.T.astype(np.float64) @ probs  # row m: sum over images with label m
    counts = labels.sum(axis=0)
    if (counts == 0).any():
        missing = int(np.flatnonzero(counts == 0)[0])
        raise DeephashError(f"class {missing} has no training image; the similarity needs every class")
    if order == "paper":
        s = normalize_rows(sums / counts[:, None])
        s = (s + s.T) / 2
    else:
        s = normalize_rows((sums + sums.T) / 2)
    np.fill_diagonal(s, 1.0)
    return s


def classifier_similarity(
    data: ImageArrays,
    backbone: Backbone,
    config: TrainConfig,
    mask: str = "predicted",
    order: str = "paper",
    callback: EpochCallback | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """Train backbone + linear classifier on ``data``, then derive S from its training-set logits.

    Returns S and the classifier's training accuracy (top-1 hit of any label).
    """
    num = data.labels.shape[1]
    model = HashingNetwork(backbone, LinearHead(backbone.out_features, num))
    multilabel = bool((data.labels.sum(axis=1) != 1).any())
    fit(model, ClassifierObjective(multilabel), data, config, callback=callback, desc="classifier")
    logits = predict(model, data, config, desc="logits").numpy().astype(np.float64)
    hit = data.labels[np.arange(len(logits)), logits.argmax(axis=1)] > 0
    return class_similarity(logits, data.labels, mask, order), {"train_accuracy": float(hit.mean())}


class ClassifierObjective(Objective):
    """Cross-entropy for single-label data, per-class binary cross-entropy for multi-label data."""

    def __init__(self, multilabel: bool) -> None:
        super().__init__()
        self.multilabel = multilabel

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        if self.multilabel:
            return nn.functional.binary_cross_entropy_with_logits(outputs, batch.labels)
        return nn.functional.cross_entropy(outputs, batch.labels.argmax(dim=1))

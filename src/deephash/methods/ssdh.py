"""SSDH: Semantic Structure-based unsupervised Deep Hashing (Yang et al., IJCAI 2018).

Pre-stage (``pseudo_similarity``): the cosine distances of all pairs of training-image features
follow two half-Gaussians that meet at the histogram's mode m. Each side is mirrored around m and
fitted; pairs closer than m - alpha sd_left are pseudo-similar (+1), pairs farther than
m + beta sd_right pseudo-dissimilar (-1), everything between is unknown (0) and never trained on.
Features come from a pretrained backbone when its weights are on disk (``features: backbone``), or
from the raw pixels (``features: pixels``, the fallback for images too small for an ImageNet
network, like the embedded 8x16 digit pairs).

Memory: the fit streams over blocks of rows of the distance matrix (never N x N), and the pre-stage
writes only the unit-norm features [N, F] and the two thresholds; training computes each batch's
B x B pseudo-similarity from them, which is exactly the rows and columns of the full matrix.

Training fits H = V V^T / q, V = tanh(u), to the pseudo-similarity on confident pairs only:
L = sum_ij |S_ij| (H_ij - S_ij)^2 / B^2, plus ``balance`` * mean_k (mean_i V_ik)^2 (0 = the paper).
Deviation from the paper (which fine-tunes VGG16 + a linear layer): the encoder is a linear hash
layer on fixed features (``ssdh.train.features``: frozen backbone, or the pixels), centred on the
training mean and initialised from PCA-ITQ (``init: itq``; ``lsh`` for a random start). Trained from
scratch, a small CNN satisfies this sparse loss by collapsing most images onto a few codes.
Neither the pre-stage nor training reads a label; only ``label_agreement`` does, to report how good
the pseudo-similarity is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import Tensor, nn

from deephash.config import from_mapping
from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.methods.base import HashingMethod, register_method
from deephash.methods.features import FeatureHashNetwork, check_source, feature_extractor
from deephash.methods.projection import fit_features, itq_projection, lsh_projection
from deephash.models import Backbone
from deephash.train import Batch, TrainConfig

FEATURES_FILE = "features.npy"  # unit-norm float32 [N, F]
THRESHOLDS_FILE = "pseudo_similarity.json"  # the fit: similar_below, dissimilar_above, ...
INITS = ("itq", "lsh")
BLOCK = 256  # rows of the distance matrix held at once: a few BLOCK x N arrays


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
        check_source(config.features, f"{section}.features")
        if config.bins < 2:
            raise DeephashError(f"{section}.bins: must be >= 2, got {config.bins}")
        if config.alpha < 0 or config.beta < 0:
            raise DeephashError(f"{section}: alpha and beta must be >= 0, got {config.alpha}, {config.beta}")
        return config


def unit_rows(features: np.ndarray) -> np.ndarray:
    """float32 rows scaled to norm 1, in place when already float32 (a memory map too); an all-zero
    row stays zero (orthogonal to everything)."""
    x = np.asanyarray(features, dtype=np.float32)  # asany: a memory map stays one
    for start in range(0, len(x), BLOCK):  # in blocks: a memory-mapped set is never copied whole
        block = x[start : start + BLOCK]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        np.divide(block, norms, out=block, where=norms > 0)
    return x


def cosine_distances(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """1 - cos between unit rows and unit columns (float32 [R, C]), clipped to [0, 2]."""
    return np.clip(1.0 - rows @ columns.T, 0.0, 2.0)


def pair_blocks(unit: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, the distances of those rows to every later item, flattened) for every block of
    ``BLOCK`` rows: the upper triangle of the distance matrix, one block at a time."""
    for start in range(0, len(unit), BLOCK):
        rows = slice(start, min(start + BLOCK, len(unit)))
        d = cosine_distances(unit[rows], unit[start:])
        yield rows, d[np.triu(np.ones(d.shape, dtype=bool), k=1)]


def fit_thresholds(unit: np.ndarray, alpha: float = 2.0, beta: float = 2.0, bins: int = 100) -> dict[str, float]:
    """The half-Gaussian fit on both sides of the histogram mode of the pairs' distances, in blocks."""
    if len(unit) < 3:
        raise DeephashError(f"pseudo-similarity needs at least 3 training images, got {len(unit)}")
    low, high = np.inf, -np.inf
    for _, pairs in pair_blocks(unit):
        if pairs.size:
            low, high = min(low, float(pairs.min())), max(high, float(pairs.max()))
    counts = np.zeros(bins, dtype=np.int64)
    edges = np.histogram_bin_edges([], bins=bins, range=(low, high + 1e-6))
    for _, pairs in pair_blocks(unit):
        counts += np.histogram(pairs, bins=edges)[0]
    peak = int(np.argmax(counts))
    mode = float((edges[peak] + edges[peak + 1]) / 2)
    # A side mirrored around the mode is a symmetric sample centred on it: its sd is the RMS offset.
    squares, sizes = [0.0, 0.0], [0, 0]
    for _, pairs in pair_blocks(unit):
        offset = pairs - np.float32(mode)
        for side, part in enumerate((offset[offset <= 0], offset[offset > 0])):
            squares[side] += float(np.square(part).sum(dtype=np.float64))
            sizes[side] += part.size
    sd_left, sd_right = (float(np.sqrt(s / c)) if c else 0.0 for s, c in zip(squares, sizes, strict=True))
    return {
        "mode": mode,
        "sd_left": sd_left,
        "sd_right": sd_right,
        "similar_below": float(mode - alpha * sd_left),
        "dissimilar_above": float(mode + beta * sd_right),
    }


def threshold(dist: Tensor | np.ndarray, low: float, high: float) -> Tensor:
    """int8 pseudo-similarity of distances: +1 below ``low``, -1 above ``high``, else 0."""
    d = torch.as_tensor(dist)
    ones = torch.ones_like(d, dtype=torch.int8)
    return torch.where(d < low, ones, torch.where(d > high, -ones, torch.zeros_like(ones)))


def pair_report(unit: np.ndarray, stats: dict[str, float], labels: np.ndarray | None = None) -> dict[str, float]:
    """Fractions of pseudo-similar and -dissimilar pairs and, given labels (diagnosis only), how often
    pseudo-similar pairs share a class and pseudo-dissimilar ones share none."""
    totals = dict.fromkeys(("pairs", "similar", "dissimilar", "similar_right", "dissimilar_right", "label"), 0)
    low, high = stats["similar_below"], stats["dissimilar_above"]
    for rows, pairs in pair_blocks(unit):
        s = threshold(pairs, low, high).numpy()
        totals["pairs"] += s.size
        totals["similar"] += int((s == 1).sum())
        totals["dissimilar"] += int((s == -1).sum())
        if labels is not None:
            block = labels[rows].astype(np.float32)
            shares = (block @ labels[rows.start :].T.astype(np.float32)) > 0
            shares = shares[np.triu(np.ones(shares.shape, dtype=bool), k=1)]
            totals["similar_right"] += int((shares & (s == 1)).sum())
            totals["dissimilar_right"] += int((~shares & (s == -1)).sum())
            totals["label"] += int(shares.sum())
    count = max(totals["pairs"], 1)
    report = {"similar_fraction": totals["similar"] / count, "dissimilar_fraction": totals["dissimilar"] / count}
    if labels is not None:
        report["similar_precision"] = totals["similar_right"] / max(totals["similar"], 1)
        report["dissimilar_precision"] = totals["dissimilar_right"] / max(totals["dissimilar"], 1)
        report["label_similar_fraction"] = totals["label"] / count
    return report


def pseudo_similarity_loss(relaxed: Tensor, target: Tensor) -> Tensor:
    """sum |S| (V V^T / q - S)^2 / B^2 over the batch's pairs: unknown pairs (S = 0) weigh nothing."""
    inner = relaxed @ relaxed.T / relaxed.shape[1]
    return (target.abs() * (inner - target) ** 2).sum() / len(relaxed) ** 2


def balance_penalty(relaxed: Tensor) -> Tensor:
    """mean over bits of the squared batch mean: 0 when every bit splits the batch in half."""
    return relaxed.mean(dim=0).pow(2).mean()


@register_method("ssdh")
class SSDH(HashingMethod):
    prestage: ClassVar[str | None] = "pseudo_similarity"
    supervised: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {"features": "pixels", "init": "itq", "balance": 0.0, "projection_seed": 0}
    unit: Tensor  # a buffer (register_buffer), declared so that type checkers see a tensor

    def __init__(self, bits: int, num_classes: int, params: dict[str, Any] | None = None) -> None:
        super().__init__(bits, num_classes, params)
        check_source(self.hparams["features"], "ssdh.train.features")
        if self.hparams["init"] not in INITS:
            raise DeephashError(f"ssdh.train.init: must be one of {INITS}, got {self.hparams['init']!r}")
        if float(self.hparams["balance"]) < 0:
            raise DeephashError(f"ssdh.train.balance: must be >= 0, got {self.hparams['balance']}")
        self.register_buffer("unit", torch.zeros(0, 0), persistent=False)
        self.low, self.high = 0.0, 0.0

    def build_network(self, backbone: Backbone) -> nn.Module:
        return FeatureHashNetwork(feature_extractor(str(self.hparams["features"]), backbone), self.bits, True)

    def load_targets(self, directory: Path, train_labels: np.ndarray) -> None:
        import json

        paths = Path(directory) / FEATURES_FILE, Path(directory) / THRESHOLDS_FILE
        for path in paths:
            if not path.exists():
                raise DeephashError("no pseudo-similarity for ssdh (run its pseudo_similarity stage)", path=path)
        unit = np.load(paths[0], mmap_mode="r")
        if unit.ndim != 2 or len(unit) != len(train_labels):  # the count only: labels are never read
            raise DeephashError(f"features of shape {unit.shape} for {len(train_labels)} images", path=paths[0])
        stats = json.loads(paths[1].read_text(encoding="utf-8"))
        try:
            self.low, self.high = float(stats["similar_below"]), float(stats["dissimilar_above"])
        except KeyError as exc:
            raise DeephashError(f"lacks {exc}", path=paths[1]) from None
        self.unit = torch.from_numpy(np.array(unit, dtype=np.float32)).to(self.unit.device)

    def begin_training(self, model: nn.Module, data: ImageArrays, config: TrainConfig) -> None:
        """Centre the features and start the hash layer from PCA-ITQ (or LSH), each bit scaled to unit
        output sd so tanh starts in its sensitive range with the init's codes."""
        centred, mean = fit_features(model, data, config, "ssdh")
        rng = np.random.default_rng(int(self.hparams["projection_seed"]))
        if self.hparams["init"] == "itq":
            weight = itq_projection(centred, self.bits, rng)
        else:
            weight = lsh_projection(centred, self.bits, rng)
        sd = (centred @ weight).std(axis=0)
        cast(FeatureHashNetwork, model).fit_projection(mean, (weight / np.where(sd > 0, sd, 1.0)).T)

    def batch_similarity(self, index: Tensor) -> Tensor:
        """The batch's rows and columns of the pseudo-similarity (float [B, B], diagonal +1)."""
        rows = self.unit[index]
        s = threshold((1.0 - rows @ rows.T).clamp(0.0, 2.0), self.low, self.high).float()
        return s.fill_diagonal_(1.0)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        if len(self.unit) == 0:
            raise DeephashError("ssdh: the loss was called before load_targets read the pre-stage's features")
        relaxed = torch.tanh(outputs)
        loss = pseudo_similarity_loss(relaxed, self.batch_similarity(batch.index))
        if self.hparams["balance"]:
            loss = loss + float(self.hparams["balance"]) * balance_penalty(relaxed)
        return loss

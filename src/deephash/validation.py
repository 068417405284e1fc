"""Validation mAP for model selection: never the query set.

The validation images (``split.validation``, carved from the training images) are the queries, and
the remaining training images the database, both encoded by the network as it stands (sign of its
output, as ``export`` encodes queries; asymmetric methods such as SEMICON are ranked by their
network codes here, not by their learned database codes, which change only between outer
iterations). The score is deephash's own mAP@all (``deephash.metrics``: stable Hamming ranking,
relevant = shares a label), so selection and evaluation measure the same thing.
"""

from __future__ import annotations

from torch import nn

from deephash.codes import CodeSet
from deephash.data.arrays import ImageArrays
from deephash.methods import HashingMethod
from deephash.metrics import evaluate_codes
from deephash.train import TrainConfig, Validator


def validation_map(
    method: HashingMethod, validation: ImageArrays, train: ImageArrays, config: TrainConfig, batch_size: int = 256
) -> Validator:
    """A ``fit`` validator: mAP@all of ``validation`` as queries against ``train`` as the database."""

    def measure(network: nn.Module) -> float:
        parts = []
        for data in (validation, train):
            codes = method.encode(network, data, config, batch_size=batch_size, desc="validate")
            parts.append(CodeSet(codes=codes, labels=data.labels, ids=[str(i) for i in range(len(data))]))
        return evaluate_codes(parts[0], parts[1], method.bits, topk=["all"], pn=[1]).metrics["map@all"]

    return measure

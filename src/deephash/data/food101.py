"""Food-101 through torchvision's ``Food101`` (official ``meta/{train,test}.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deephash.data import register_dataset
from deephash.data.torchvision_sets import TorchvisionFiles


@register_dataset("food101")
class Food101(TorchvisionFiles):
    """Food-101: 101,000 images of 101 dishes, official 75,750 train / 25,250 test."""

    layout = "root/food-101/{meta/train.json, meta/test.json, images/<class>/<id>.jpg} (torchvision's Food101 layout)"
    example = (
        "dvc exp run -S dataset.name=food101 -S dataset.root=/data -S split.protocol=official"
        " -S cache.size=256 -S train.crop=224 -S train.backbone.name=resnet50 -S train.backbone.weights=imagenet"
    )
    splits = {"train": "train", "test": "test"}  # noqa: RUF012

    def annotation_files(self, split: str) -> list[Path]:
        return [self.require_root() / "food-101" / "meta" / f"{split}.json"]

    def construct(self, split: str) -> Any:
        from torchvision.datasets import Food101 as TorchvisionFood101

        return TorchvisionFood101(self.require_root(), split=split, download=False)

"""FGVC-Aircraft through torchvision's ``FGVCAircraft`` (official trainval / test lists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deephash.data import register_dataset
from deephash.data.torchvision_sets import TorchvisionFiles
from deephash.errors import DeephashError

LEVELS = {"variant": "variants", "family": "families", "manufacturer": "manufacturers"}


@register_dataset("aircraft")
class Aircraft(TorchvisionFiles):
    """FGVC-Aircraft 2013b: 10,000 images; 100 variants (or 70 families, 30 manufacturers), 6,667 / 3,333."""

    layout = (
        "root/fgvc-aircraft-2013b/data/{variants.txt, images_variant_trainval.txt, images_variant_test.txt,"
        " images/<7-digit id>.jpg} (torchvision's FGVCAircraft layout)"
    )
    example = (
        "dvc exp run -S dataset.name=aircraft -S dataset.root=/data -S split.protocol=official"
        " -S cache.size=256 -S train.crop=224 -S train.backbone.name=resnet50 -S train.backbone.weights=imagenet"
    )

    def __init__(
        self, root: str | Path | None = None, annotation_level: str = "variant", train_split: str = "trainval"
    ) -> None:
        super().__init__(root)
        if annotation_level not in LEVELS:
            raise DeephashError(
                f"dataset.aircraft.annotation_level: expected one of {list(LEVELS)}, got {annotation_level!r}"
            )
        if train_split not in ("train", "trainval"):
            raise DeephashError(f"dataset.aircraft.train_split: expected train or trainval, got {train_split!r}")
        self.level = annotation_level
        self.splits = {"train": train_split, "test": "test"}

    def annotation_files(self, split: str) -> list[Path]:
        data = self.require_root() / "fgvc-aircraft-2013b" / "data"
        return [data / f"{LEVELS[self.level]}.txt", data / f"images_{self.level}_{split}.txt"]

    def construct(self, split: str) -> Any:
        from torchvision.datasets import FGVCAircraft

        return FGVCAircraft(self.require_root(), split=split, annotation_level=self.level, download=False)

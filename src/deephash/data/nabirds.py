"""NABirds: CUB's file layout with UUID image ids and non-contiguous leaf class ids.

Only leaf classes label images, and their ids are scattered over the taxonomy's ids, so labels are
indices into the sorted list of the leaf ids in use; that list is saved with the split
(``classes.json``: ``class_ids``) so an index can always be traced back to the dataset's id.
"""

from __future__ import annotations

from pathlib import Path

from deephash.data import register_dataset
from deephash.data.cub200 import Cub200
from deephash.data.textfiles import Row, parse_int
from deephash.errors import DeephashError


@register_dataset("nabirds")
class NABirds(Cub200):
    """NABirds: 48,562 images of 555 leaf categories, official 23,929 train / 24,633 test."""

    layout = (
        "root/nabirds/{images.txt, image_class_labels.txt, train_test_split.txt, classes.txt,"
        " images/NNNN/<uuid>.jpg} (root may be nabirds itself); image ids are UUIDs"
    )
    example = (
        "dvc exp run -S dataset.name=nabirds -S dataset.root=/data/nabirds -S split.protocol=official"
        " -S cache.size=256 -S train.crop=224 -S train.backbone.name=resnet50 -S train.backbone.weights=imagenet"
    )
    folder = "nabirds"

    def image_order(self, path: Path, images: dict[str, Row]) -> list[str]:
        return sorted(images)

    def class_map(self, path: Path, classes: dict[str, Row], used: set[int]) -> tuple[list[str], dict[int, int]]:
        names = {parse_int(k, "class id", path, line): name for k, (line, (_, name)) in classes.items()}
        leaves = sorted(used)
        for class_id in leaves:
            if class_id not in names:
                raise DeephashError(f"class id {class_id} labels images but is not listed", path=path)
        return [names[c] for c in leaves], {c: i for i, c in enumerate(leaves)}

    def class_extra(self, index: dict[int, int]) -> dict[str, object]:
        return {"class_ids": sorted(index, key=index.__getitem__)}

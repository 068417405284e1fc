"""MS-COCO as the hashing papers use it: HashNet / DeepHash-pytorch lists with 80-dim multi-hot labels.

The column order is the list authors' choice (not COCO's category ids), so classes are named by
column unless a ``classes`` file is given. HashNet's own lists carry absolute paths from its
authors' machine: rewrite them with ``prefix_from`` (e.g. everything up to ``coco/``).
"""

from __future__ import annotations

from pathlib import Path

from deephash.data import register_dataset
from deephash.data.listfile import ImageList


@register_dataset("coco")
class Coco(ImageList):
    """MS-COCO hashing lists: 80-dim multi-hot labels, train / test (query) / database lists."""

    layout = (
        "root/{train,test,database}.txt: lines 'train2014/COCO_train2014_000000000009.jpg <80 x 0/1>', images under"
        " root (absolute paths: set prefix_from / prefix_to)"
    )
    example = (
        "dvc exp run -S dataset.name=coco -S dataset.root=/data/COCO_2014 -S split.protocol=official"
        " -S cache.size=256 -S train.crop=224 -S evaluate.topk=[5000]"
    )

    def __init__(
        self,
        root: str | Path | None = None,
        lists: str | dict[str, str] | None = None,
        classes: str = "",
        prefix_from: str = "",
        prefix_to: str = "",
    ) -> None:
        super().__init__(root, lists, "vector", 80, classes, prefix_from, prefix_to)

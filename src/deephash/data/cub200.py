"""CUB-200-2011: id files joined on the image id, never on line order; 1-based class ids.

NABirds ships the same four files (``nabirds.py`` changes only how ids and classes map).
"""

from __future__ import annotations

from pathlib import Path

from deephash.data import register_dataset
from deephash.data.base import Catalog
from deephash.data.images import ImageFiles, inside_root
from deephash.data.textfiles import Row, join_on_id, parse_int, read_keyed
from deephash.errors import DeephashError

OFFICIAL = {"1": "train", "0": "test"}
ID_FILES = ("images", "image_class_labels", "train_test_split", "classes")


@register_dataset("cub200")
class Cub200(ImageFiles):
    """Caltech-UCSD Birds 200-2011: 11,788 images of 200 species, official 5,994 train / 5,794 test."""

    layout = (
        "root/CUB_200_2011/{images.txt, image_class_labels.txt, train_test_split.txt, classes.txt,"
        " images/NNN.Species/*.jpg} (root may be CUB_200_2011 itself)"
    )
    example = (
        "dvc exp run -S dataset.name=cub200 -S dataset.root=/data/CUB_200_2011 -S split.protocol=official"
        " -S cache.size=256 -S train.crop=224 -S train.backbone.name=resnet50 -S train.backbone.weights=imagenet"
    )
    folder = "CUB_200_2011"

    def image_root(self) -> Path:
        return self.locate(self.folder, "images.txt") / "images"

    def image_order(self, path: Path, images: dict[str, Row]) -> list[str]:
        """Image ids in catalogue order: numeric (CUB ids are integers 1..N)."""
        return sorted(images, key=lambda k: parse_int(k, "image id", path, images[k][0]))

    def class_map(self, path: Path, classes: dict[str, Row], used: set[int]) -> tuple[list[str], dict[int, int]]:
        """Class names and class id -> label index: CUB's ids are 1..C, so the index is id - 1."""
        ids = sorted(parse_int(k, "class id", path, line) for k, (line, _) in classes.items())
        if ids != list(range(1, len(ids) + 1)):
            raise DeephashError(f"class ids must be 1..{len(ids)}", path=path)
        return [classes[str(c)][1][1] for c in ids], {c: c - 1 for c in ids}

    def catalog(self) -> Catalog:
        images_dir = self.image_root()
        files = {name: images_dir.parent / f"{name}.txt" for name in ID_FILES}
        images = read_keyed(files["images"], 2)
        labels = read_keyed(files["image_class_labels"], 2)
        split = read_keyed(files["train_test_split"], 2)
        join_on_id(files["images"], images, files["image_class_labels"], labels)
        join_on_id(files["images"], images, files["train_test_split"], split)
        class_ids = {
            ident: parse_int(value, "class id", files["image_class_labels"], line)
            for ident, (line, (_, value)) in labels.items()
        }
        names, index = self.class_map(files["classes"], read_keyed(files["classes"], 2), set(class_ids.values()))
        order = self.image_order(files["images"], images)
        sources, targets, official, lines = [], [], [], []
        for ident in order:
            line, (_, relative) = images[ident]
            if class_ids[ident] not in index:
                raise DeephashError(
                    f"class id {class_ids[ident]} is not in classes.txt",
                    path=files["image_class_labels"],
                    line=labels[ident][0],
                )
            flag_line, (_, flag) = split[ident]
            if flag not in OFFICIAL:
                raise DeephashError(
                    f"is_train flag {flag!r} is not 1 or 0", path=files["train_test_split"], line=flag_line
                )
            sources.append(inside_root(images_dir, relative, files["images"], line))
            targets.append(index[class_ids[ident]])
            official.append(OFFICIAL[flag])
            lines.append(line)
        catalog = self.file_catalog(sources, targets, names, files["images"], ids=order, official=official, lines=lines)
        catalog.extra.update(self.class_extra(index))
        return catalog

    def class_extra(self, index: dict[int, int]) -> dict[str, object]:
        """What classes.json records beside the names (nothing for CUB: label = class id - 1)."""
        return {}

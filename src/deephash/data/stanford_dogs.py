"""Stanford Dogs as its authors ship it: ``Images/<wnid>-<name>/*.jpg`` and the official split as
MATLAB lists (``train_list.mat``, ``test_list.mat``: cell arrays ``file_list`` of paths under
``Images/``, ``labels`` 1-based, and ``annotation_list``, unused here).

Class ``k`` is named after the folder its images lie in, with the WordNet id prefix stripped
(``n02085620-Chihuahua`` -> ``Chihuahua``); the full folder names are kept in ``extra["folders"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import Catalog, check_catalog, one_hot
from deephash.data.images import ImageFiles, inside_root, require_files
from deephash.data.stanford_cars import load_mat
from deephash.errors import DeephashError

LISTS = {"train": "train_list.mat", "test": "test_list.mat"}


def list_labels(path: Path, values: np.ndarray) -> list[int]:
    """The 1-based ``labels`` (MATLAB stores them as doubles) as 0-based class indices."""
    targets = []
    for i, value in enumerate(values):
        if not isinstance(value, int | float | np.integer | np.floating) or value != int(value) or value < 1:
            raise DeephashError(f"labels entry {i + 1}: {value} is not a class number >= 1", path=path)
        targets.append(int(value) - 1)
    return targets


def class_name(folder: str) -> str:
    """``n02085620-Chihuahua`` -> ``Chihuahua``; a folder without a wnid prefix keeps its name."""
    wnid, dash, name = folder.partition("-")
    return name if dash and wnid[:1] == "n" and wnid[1:].isdigit() else folder


@register_dataset("stanford_dogs")
class StanfordDogs(ImageFiles):
    """Stanford Dogs: 20,580 images of 120 breeds, official 12,000 train / 8,580 test."""

    layout = (
        "root/Images/<wnid>-<breed>/*.jpg and the lists train_list.mat, test_list.mat (fields file_list, labels)"
        " in root/lists/ or root/"
    )
    example = (
        "dvc exp run -S dataset.name=stanford_dogs -S dataset.root=/data/dogs -S split.protocol=official"
        " -S cache.size=256 -S train.crop=224"
    )

    def image_root(self) -> Path:
        return self.locate("Images", "Images") / "Images"

    def lists_folder(self) -> Path:
        root = self.require_root()
        for folder in (root / "lists", root):
            if (folder / LISTS["train"]).is_file():
                return folder
        raise DeephashError(f"{LISTS['train']} not found in lists/ or here; expected: {self.layout}", path=root)

    def catalog(self) -> Catalog:
        images, folder = self.image_root(), self.lists_folder()
        sources: list[str] = []
        targets: list[int] = []
        official: list[str] = []
        folders: dict[int, str] = {}
        for tag, name in LISTS.items():
            path = folder / name
            files = [str(f) for f in load_mat(path, "file_list")]
            labels = list_labels(path, load_mat(path, "labels"))
            if len(files) != len(labels):
                raise DeephashError(f"file_list has {len(files)} entries but labels has {len(labels)}", path=path)
            for i, (file, target) in enumerate(zip(files, labels, strict=True)):
                source = inside_root(images, file, path)
                if "/" not in source:
                    raise DeephashError(f"entry {i + 1}: {file!r} is not in a breed folder <wnid>-<breed>/", path=path)
                breed = source.split("/")[0]
                if folders.setdefault(target, breed) != breed:
                    raise DeephashError(
                        f"entry {i + 1}: label {target + 1} is on images of {folders[target]!r} and {breed!r}",
                        path=path,
                    )
                sources.append(source)
            require_files(images, sources[len(official) :], path)  # names the list of a missing image
            targets += labels
            official += [tag] * len(files)
        count = max(folders) + 1
        missing = [k + 1 for k in range(count) if k not in folders]
        if missing:
            raise DeephashError(f"label {missing[0]} has no image in either list", path=folder / LISTS["train"])
        names = [class_name(folders[k]) for k in range(count)]
        if len(set(names)) != count:
            names = [folders[k] for k in range(count)]  # stripped names collide: keep the wnids
        catalog = Catalog(
            ids=sources,
            sources=sources,
            labels=one_hot(targets, count),
            classes=names,
            official=official,
            extra={"folders": [folders[k] for k in range(count)]},
        )
        return check_catalog(catalog, ", ".join(str(folder / n) for n in LISTS.values()))

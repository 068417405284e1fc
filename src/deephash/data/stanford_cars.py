"""Stanford Cars in the three layouts it circulates in.

- ``devkit``: the original release as torchvision's ``StanfordCars`` expects it (``devkit/*.mat``,
  ``cars_train/``, ``cars_test/`` and ``cars_test_annos_withlabels.mat`` beside ``devkit/``);
- ``annos``: the all-in-one ``cars_annos.mat`` with ``car_ims/``;
- ``folders``: class-folder re-packs, ``train/<class>/`` and ``test/<class>/``.

The ``.mat`` files are read here rather than through torchvision, so that a missing field or a
listed image that is not on disk is reported by name instead of as a KeyError deep in a loader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import Catalog
from deephash.data.imagefolder import ImageFolder
from deephash.data.images import ImageFiles, inside_root, require_files
from deephash.errors import DeephashError

LAYOUTS = ("auto", "devkit", "annos", "folders")


def load_mat(path: Path, key: str, fields: tuple[str, ...] = ()) -> np.ndarray:
    """``key`` of a .mat file, squeezed to 1-D; for a struct array, every name in ``fields`` must exist."""
    import scipy.io

    if not path.is_file():
        raise DeephashError("file not found", path=path)
    try:
        content = scipy.io.loadmat(path, squeeze_me=True)
    except Exception as exc:  # scipy raises several types for a file that is not a readable .mat
        raise DeephashError(f"not a readable .mat file: {exc}", path=path) from None
    if key not in content:
        found = ", ".join(k for k in content if not k.startswith("__"))
        raise DeephashError(f"no {key!r} variable in the .mat file (found: {found or 'none'})", path=path)
    value = np.atleast_1d(content[key])
    names = value.dtype.names or ()
    missing = [f for f in fields if f not in names]
    if missing:
        raise DeephashError(f"{key!r} has no field {missing[0]!r} (fields: {', '.join(names) or 'none'})", path=path)
    return value


def class_targets(path: Path, values: np.ndarray, num_classes: int) -> list[int]:
    """The 1-based ``class`` field as 0-based targets."""
    targets = []
    for i, value in enumerate(values):
        if not isinstance(value, int | np.integer) or not 1 <= value <= num_classes:
            raise DeephashError(f"annotation {i + 1}: class {value!r} is not in 1..{num_classes}", path=path)
        targets.append(int(value) - 1)
    return targets


@register_dataset("stanford_cars")
class StanfordCars(ImageFiles):
    """Stanford Cars: 16,185 images of 196 models, official 8,144 train / 8,041 test."""

    layout = (
        "devkit (torchvision): root/stanford_cars/{devkit/cars_meta.mat, devkit/cars_train_annos.mat,"
        " cars_test_annos_withlabels.mat, cars_train/, cars_test/}; annos: root/{cars_annos.mat, car_ims/};"
        " folders: root/{train,test}/<class>/*.jpg"
    )
    example = (
        "dvc exp run -S dataset.name=stanford_cars -S dataset.root=/data/cars -S split.protocol=official"
        " -S cache.size=256 -S train.crop=224 -S train.backbone.name=resnet34 -S train.backbone.weights=imagenet"
    )

    def __init__(self, root: str | Path | None = None, layout: str = "auto") -> None:
        super().__init__(root)
        if layout not in LAYOUTS:
            raise DeephashError(f"dataset.stanford_cars.layout: expected one of {LAYOUTS}, got {layout!r}")
        self.layout_name = layout

    def resolved(self) -> tuple[str, Path]:
        """The layout in use and the folder its paths are relative to."""
        root = self.require_root()
        found = {
            "devkit": next((b for b in (root, root / "stanford_cars") if (b / "devkit").is_dir()), None),
            "annos": root if (root / "cars_annos.mat").is_file() else None,
            "folders": root if (root / "train").is_dir() and (root / "test").is_dir() else None,
        }
        if self.layout_name != "auto":
            base = found[self.layout_name]
            if base is None:
                raise DeephashError(f"not the {self.layout_name} layout; expected: {self.layout}", path=root)
            return self.layout_name, base
        for name, base in found.items():
            if base is not None:
                return name, base
        raise DeephashError(f"no Stanford Cars layout found; expected one of: {self.layout}", path=root)

    def image_root(self) -> Path:
        return self.resolved()[1]

    def catalog(self) -> Catalog:
        layout, base = self.resolved()
        if layout == "folders":
            return ImageFolder(base, train_test=True).catalog()
        if layout == "annos":
            return self._annos_catalog(base)
        return self._devkit_catalog(base)

    def _devkit_catalog(self, base: Path) -> Catalog:
        meta = base / "devkit" / "cars_meta.mat"
        names = [str(n) for n in load_mat(meta, "class_names")]
        parts = {
            "train": (base / "devkit" / "cars_train_annos.mat", "cars_train"),
            "test": (base / "cars_test_annos_withlabels.mat", "cars_test"),
        }
        ids, sources, targets, official = [], [], [], []
        for tag, (path, folder) in parts.items():
            annotations = load_mat(path, "annotations", ("fname", "class"))
            fnames = [str(f) for f in annotations["fname"]]
            ids += [f"{tag}/{f}" for f in fnames]
            part = [f"{folder}/{inside_root(base / folder, f, path)}" for f in fnames]
            require_files(base, part, path)  # names the annotation file that lists a missing image
            sources += part
            targets += class_targets(path, annotations["class"], len(names))
            official += [tag] * len(fnames)
        return self.file_catalog(sources, targets, names, meta, ids=ids, official=official)

    def _annos_catalog(self, base: Path) -> Catalog:
        path = base / "cars_annos.mat"
        names = [str(n) for n in load_mat(path, "class_names")]
        annotations = load_mat(path, "annotations", ("relative_im_path", "class", "test"))
        sources = [inside_root(base, str(p), path) for p in annotations["relative_im_path"]]
        official = []
        for i, flag in enumerate(annotations["test"]):
            if flag not in (0, 1):
                raise DeephashError(f"annotation {i + 1}: test flag {flag!r} is not 0 or 1", path=path)
            official.append("test" if flag else "train")
        targets = class_targets(path, annotations["class"], len(names))
        return self.file_catalog(sources, targets, names, path, official=official)

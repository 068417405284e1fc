"""CIFAR-10 / CIFAR-100, the "python version" torchvision reads, without running pickle code.

A pickle can call any importable function while it loads. These files need only a numpy array
rebuilt from raw bytes and builtin lists, strings and ints, so the unpickler admits exactly the
globals that takes (numpy's array reconstructors under their numpy 1 and 2 names, and the bytes
codec Python 3 writes protocol-2 bytes with) and refuses every other one before anything is called.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from deephash.data import register_dataset
from deephash.data.base import Catalog, DatasetAdapter, check_catalog, one_hot
from deephash.errors import DeephashError

# (module, name) a pickle may reference -> where that object lives in the installed numpy
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),  # the original files
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),  # re-saved, numpy 2
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),  # re-saved, protocol 5
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),  # how Python 3 pickles bytes at protocols 2 and 3
}
PIXELS = 32 * 32 * 3


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only ``ALLOWED_GLOBALS``; any other global is refused before it can be called."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refused global {module}.{name} (only numpy arrays, lists, str and int)")
        return super().find_class(*ALLOWED_GLOBALS[module, name])


def load_pickle(path: Path) -> dict[str, Any]:
    """A CIFAR batch or meta file: a dict with str keys (Python 2 strings decoded as latin-1)."""
    if not path.is_file():
        raise DeephashError("file not found", path=path)
    try:
        with path.open("rb") as f:
            content = RestrictedUnpickler(f, encoding="latin1").load()
    except Exception as exc:  # untrusted bytes: any failure to load is bad input
        raise DeephashError(f"not a CIFAR pickle: {exc}", path=path) from None
    if not isinstance(content, dict) or not all(isinstance(k, str) for k in content):
        raise DeephashError(f"expected a dict with str keys, got {type(content).__name__}", path=path)
    return content


@lru_cache(maxsize=8)
def batch_arrays(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch's images as uint8 [N, 32, 32, 3] (rows are 1024 R, then G, then B) and its labels."""
    content = load_pickle(path)
    data, labels = content.get("data"), content.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DeephashError(f"'data' must be a uint8 [N, {PIXELS}] array, got {got}", path=path)
    if not isinstance(labels, list | np.ndarray) or len(labels) != len(data):
        raise DeephashError(f"{label_key!r} must list one label per image ({len(data)})", path=path)
    if not all(isinstance(v, int | np.integer) and 0 <= v < num_classes for v in labels):
        raise DeephashError(f"{label_key!r} must hold ints in 0..{num_classes - 1}", path=path)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(labels, dtype=np.int64)


def meta_names(path: Path, key: str, count: int) -> list[str]:
    names = load_pickle(path).get(key)
    if not isinstance(names, list) or len(names) != count or not all(isinstance(n, str) for n in names):
        raise DeephashError(f"{key!r} must be a list of {count} class names", path=path)
    return names


class CifarPython(DatasetAdapter):
    """Shared by CIFAR-10 and CIFAR-100: batch files tagged train/test, labels under one key."""

    folder: str
    meta: str
    batches: dict[str, str]  # file name -> official tag
    label_key: str
    names_key: str
    num_classes: int

    def base(self) -> Path:
        return self.locate(self.folder, self.meta)

    def catalog(self) -> Catalog:
        base = self.base()
        names = meta_names(base / self.meta, self.names_key, self.num_classes)
        ids: list[str] = []
        sources: list[str] = []
        targets: list[np.ndarray] = []
        official: list[str] = []
        for name, tag in self.batches.items():
            _, labels = batch_arrays(base / name, self.label_key, self.num_classes)
            ids += [f"{name}-{i:05d}" for i in range(len(labels))]
            sources += [f"{name}:{i}" for i in range(len(labels))]
            targets.append(labels)
            official += [tag] * len(labels)
        catalog = Catalog(
            ids=ids,
            sources=sources,
            labels=one_hot(np.concatenate(targets), self.num_classes),
            classes=names,
            official=official,
        )
        return check_catalog(catalog, base)

    def read(self, sources: Sequence[str], size: int = 0) -> Iterator[np.ndarray]:
        base = self.base()
        for source in sources:
            name, _, row = source.rpartition(":")
            if name not in self.batches:
                raise DeephashError(f"not a {self.folder} source: {source!r}")
            yield batch_arrays(base / name, self.label_key, self.num_classes)[0][int(row)]


@register_dataset("cifar100")
class Cifar100(CifarPython):
    """CIFAR-100, python version: 50,000 train + 10,000 test 32x32 images, 100 fine / 20 coarse classes."""

    layout = "root/cifar-100-python/{train,test,meta} (the python-version tarball, unpacked)"
    example = (
        "dvc exp run -S dataset.name=cifar100 -S dataset.root=/data -S split.protocol=shc-cifar100"
        " -S cache.size=224 -S train.backbone.name=resnet34 -S train.backbone.weights=imagenet"
    )
    folder = "cifar-100-python"
    meta = "meta"
    batches = {"train": "train", "test": "test"}  # noqa: RUF012

    def __init__(self, root: str | Path | None = None, labels: str = "fine") -> None:
        super().__init__(root)
        if labels not in ("fine", "coarse"):
            raise DeephashError(f"dataset.cifar100.labels: expected fine or coarse, got {labels!r}")
        self.label_key = f"{labels}_labels"
        self.names_key = f"{labels}_label_names"
        self.num_classes = 100 if labels == "fine" else 20


@register_dataset("cifar10")
class Cifar10(CifarPython):
    """CIFAR-10, python version: 50,000 train + 10,000 test 32x32 images, 10 classes."""

    layout = "root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (the python-version tarball)"
    example = "dvc exp run -S dataset.name=cifar10 -S dataset.root=/data -S split.protocol=cifar10-1"
    folder = "cifar-10-batches-py"
    meta = "batches.meta"
    batches = {**{f"data_batch_{i}": "train" for i in range(1, 6)}, "test_batch": "test"}  # noqa: RUF012
    label_key = "labels"
    names_key = "label_names"
    num_classes = 10

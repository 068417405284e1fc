"""Dataset adapters behind one interface, chosen by ``dataset.name`` in params."""

from __future__ import annotations

from typing import Any

from deephash.data.base import Catalog, DatasetAdapter, adapter_options
from deephash.errors import DeephashError
from deephash.registry import Registry

DATASETS: Registry[type[DatasetAdapter]] = Registry("dataset")
register_dataset = DATASETS.register


def dataset_class(name: str) -> type[DatasetAdapter]:
    _import_adapters()
    return DATASETS.get(name, key="dataset.name")


def create_dataset(name: str, root: str | None = None, **options: Any) -> DatasetAdapter:
    """The adapter ``name`` with its options (``dataset.<name>`` in params); an unknown option is an error."""
    adapter = dataset_class(name)
    known = adapter_options(adapter)
    for key in options:
        if key not in known:
            raise DeephashError(f"dataset.{name}.{key}: unknown option (known: {', '.join(known) or 'none'})")
    return adapter(root=root, **options)


def dataset_from_params(dataset: dict[str, Any]) -> tuple[str, DatasetAdapter]:
    """The adapter the ``dataset`` params section names: ``name``, ``root`` and, under the
    adapter's own name, its options (so switching ``name`` never trips over another's options)."""
    name = dataset.get("name")
    if not isinstance(name, str):
        raise DeephashError(f"dataset.name: expected an adapter name, got {name!r}")
    options = dataset.get(name) or {}
    if not isinstance(options, dict):
        raise DeephashError(f"dataset.{name}: expected a mapping of the adapter's options, got {options!r}")
    return name, create_dataset(name, dataset.get("root") or None, **options)


def list_datasets() -> list[str]:
    _import_adapters()
    return DATASETS.names()


def _import_adapters() -> None:
    # Imported lazily: adapters register themselves on import.
    from deephash.data import (  # noqa: F401
        aircraft,
        cifar,
        coco,
        cub200,
        digit_pairs,
        digits,
        digits_mosaic,
        food101,
        imagefolder,
        listfile,
        mnist5k,
        nabirds,
        stanford_cars,
        stanford_dogs,
    )


__all__ = [
    "DATASETS",
    "Catalog",
    "DatasetAdapter",
    "create_dataset",
    "dataset_class",
    "dataset_from_params",
    "list_datasets",
]

"""Dataset adapters behind one interface, chosen by ``dataset.name`` in params."""

from __future__ import annotations

from typing import Any

from deephash.data.base import Catalog, DatasetAdapter
from deephash.registry import Registry

DATASETS: Registry[type[DatasetAdapter]] = Registry("dataset")
register_dataset = DATASETS.register


def create_dataset(name: str, root: str | None = None, **options: Any) -> DatasetAdapter:
    _import_adapters()
    adapter = DATASETS.get(name, key="dataset.name")
    return adapter(root=root, **options)


def list_datasets() -> list[str]:
    _import_adapters()
    return DATASETS.names()


def _import_adapters() -> None:
    # Imported lazily: adapters register themselves on import.
    from deephash.data import digits  # noqa: F401


__all__ = ["DATASETS", "Catalog", "DatasetAdapter", "create_dataset", "list_datasets"]

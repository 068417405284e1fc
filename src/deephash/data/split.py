"""Seeded train / query / database splits, and the list files the split stage writes.

Every split is a pure function of the catalogue, the protocol options and the seed. Each part is
stored in a seeded shuffled order, never grouped by class: the database order is the tie-break of
the Hamming ranking (see ``metrics``), so it has to be random, and reproducible.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deephash.atomic import atomic_path
from deephash.data.base import Catalog
from deephash.errors import DeephashError

PARTS = ("train", "query", "database")


@dataclass
class Split:
    train: Catalog
    query: Catalog
    database: Catalog

    def part(self, name: str) -> Catalog:
        return {"train": self.train, "query": self.query, "database": self.database}[name]

    def counts(self) -> dict[str, int]:
        return {name: len(self.part(name)) for name in PARTS}


Protocol = Callable[..., Split]
PROTOCOLS: dict[str, Protocol] = {}


def protocol(name: str) -> Callable[[Protocol], Protocol]:
    def decorator(fn: Protocol) -> Protocol:
        PROTOCOLS[name] = fn
        return fn

    return decorator


def split_catalog(catalog: Catalog, name: str, seed: int, **options: Any) -> Split:
    if name not in PROTOCOLS:
        known = ", ".join(sorted(PROTOCOLS))
        raise DeephashError(f"split.protocol: unknown protocol {name!r} (known: {known})")
    if len(catalog) == 0:
        raise DeephashError("the dataset has no images")
    try:
        split = PROTOCOLS[name](catalog, np.random.default_rng(seed), **options)
    except TypeError as exc:
        raise DeephashError(f"split: bad options for protocol {name!r}: {exc}") from None
    for part in PARTS:
        if len(split.part(part)) == 0:
            raise DeephashError(f"split: the {part} part is empty with these split params")
    return split


def _count(value: int | float, available: int, key: str) -> int:
    """A count, or a fraction of ``available`` when 0 < value < 1."""
    if isinstance(value, float) and 0 < value < 1:
        return round(value * available)
    if value < 0 or int(value) != value:
        raise DeephashError(f"split.{key}: expected a count >= 0 or a fraction in (0, 1), got {value}")
    return int(value)


def _assemble(
    catalog: Catalog,
    rng: np.random.Generator,
    query: list[np.ndarray],
    train: list[np.ndarray],
    rest: list[np.ndarray],
    train_in_database: bool,
) -> Split:
    def shuffled(chunks: list[np.ndarray]) -> np.ndarray:
        index = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        return rng.permutation(index)

    database_chunks = [*train, *rest] if train_in_database else rest
    return Split(
        train=catalog.subset(shuffled(train)),
        query=catalog.subset(shuffled(query)),
        database=catalog.subset(shuffled(database_chunks)),
    )


@protocol("per_class")
def per_class(
    catalog: Catalog,
    rng: np.random.Generator,
    query: int | float = 10,
    train: int | float = 50,
    database: int | float | str = "rest",
    train_in_database: bool = True,
) -> Split:
    """Stratified: per class, ``query`` queries, ``train`` training images, then the database.

    ``database`` is ``rest`` (every image of the class that is not a query) or a count per class.
    """
    if catalog.multilabel:
        raise DeephashError(
            "split.protocol: per_class needs single-label data; use protocol 'random' for multi-label sets"
        )
    classes = catalog.labels.argmax(axis=1)
    parts: dict[str, list[np.ndarray]] = {"query": [], "train": [], "rest": []}
    for c, name in enumerate(catalog.classes):
        members = rng.permutation(np.flatnonzero(classes == c))
        n = len(members)
        n_query = _count(query, n, "query")
        n_train = _count(train, n, "train")
        n_rest = n - n_query - n_train if database == "rest" else _count(database, n, "database")  # type: ignore[arg-type]
        if n == 0 or n_query + n_train + n_rest > n or n_rest < 0:
            raise DeephashError(
                f"split: class {name!r} has {n} images, fewer than the {n_query} query + {n_train} train"
                f" + {max(n_rest, 0)} database it needs"
            )
        parts["query"].append(members[:n_query])
        parts["train"].append(members[n_query : n_query + n_train])
        parts["rest"].append(members[n_query + n_train : n_query + n_train + n_rest])
    return _assemble(catalog, rng, parts["query"], parts["train"], parts["rest"], train_in_database)


@protocol("random")
def random_split(
    catalog: Catalog,
    rng: np.random.Generator,
    query: int | float = 0.1,
    train: int | float = 0.3,
    database: int | float | str = "rest",
    train_in_database: bool = True,
) -> Split:
    """Not stratified: a seeded permutation cut into query, train and database (multi-label safe)."""
    n = len(catalog)
    order = rng.permutation(n)
    n_query = _count(query, n, "query")
    n_train = _count(train, n, "train")
    n_rest = n - n_query - n_train if database == "rest" else _count(database, n, "database")  # type: ignore[arg-type]
    if n_query + n_train + n_rest > n or n_rest < 0:
        raise DeephashError(
            f"split: the dataset has {n} images, fewer than {n_query} query + {n_train} train"
            f" + {max(n_rest, 0)} database"
        )
    return _assemble(
        catalog,
        rng,
        [order[:n_query]],
        [order[n_query : n_query + n_train]],
        [order[n_query + n_train : n_query + n_train + n_rest]],
        train_in_database,
    )


# --- list files -------------------------------------------------------------------------------

LIST_HEADER = ("id", "source", "labels")
HEADER_TEXT = "\t".join(LIST_HEADER)


def write_list(path: str | Path, catalog: Catalog) -> None:
    """One image per line: id, source, and the 0/1 label vector (space-separated), tab-separated."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(LIST_HEADER)
        for ident, source, labels in zip(catalog.ids, catalog.sources, catalog.labels, strict=True):
            writer.writerow((ident, source, " ".join(map(str, labels.tolist()))))


def read_list(path: str | Path, classes: list[str]) -> Catalog:
    path = Path(path)
    if not path.exists():
        raise DeephashError("split list not found (run the split stage first)", path=path)
    ids: list[str] = []
    sources: list[str] = []
    rows: list[list[int]] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if tuple(header or ()) != LIST_HEADER:
            raise DeephashError(f"expected the header {HEADER_TEXT!r}", path=path, line=1)
        for line, row in enumerate(reader, start=2):
            if len(row) != 3:
                raise DeephashError(f"expected 3 tab-separated fields, got {len(row)}", path=path, line=line)
            vector = row[2].split()
            if len(vector) != len(classes) or any(v not in ("0", "1") for v in vector):
                raise DeephashError(f"expected {len(classes)} labels of 0/1, got {len(vector)}", path=path, line=line)
            ids.append(row[0])
            sources.append(row[1])
            rows.append([int(v) for v in vector])
    labels = np.array(rows, dtype=np.uint8).reshape(len(rows), len(classes))
    return Catalog(ids=ids, sources=sources, labels=labels, classes=classes)


def write_split(directory: str | Path, split: Split, dataset: str, extra: dict[str, Any] | None = None) -> None:
    """A split directory: ``{train,query,database}.tsv`` and ``classes.json``, written atomically."""
    from deephash.atomic import write_json

    with atomic_path(directory, directory=True) as tmp:
        for part in PARTS:
            write_list(tmp / f"{part}.tsv", split.part(part))
        write_json(tmp / "classes.json", {"dataset": dataset, "classes": split.train.classes, **(extra or {})})


def read_split(directory: str | Path) -> Split:
    directory = Path(directory)
    meta = directory / "classes.json"
    if not meta.exists():
        raise DeephashError("no classes.json: not a split directory (run the split stage first)", path=directory)
    import json

    classes = json.loads(meta.read_text(encoding="utf-8"))["classes"]
    parts = {part: read_list(directory / f"{part}.tsv", classes) for part in PARTS}
    return Split(**parts)


def split_dataset_name(directory: str | Path) -> str:
    import json

    return str(json.loads((Path(directory) / "classes.json").read_text(encoding="utf-8"))["dataset"])

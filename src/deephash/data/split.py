"""Seeded train / query / database splits, and the list files the split stage writes.

Every split is a pure function of the catalogue, the protocol options and the seed. Each part is
stored in a seeded shuffled order, never grouped by class: the database order is the tie-break of
the Hamming ranking (see ``metrics``), so it has to be random, and reproducible.

Two kinds of protocol: the generic ones (``per_class``, ``random``, ``label_quota``) take their
counts from ``split.query`` / ``split.train`` / ``split.database``; the named ones (``official``
and the papers' protocols, ``FIXED``) fix every count themselves and ignore those keys. Whatever
was used is recorded with the split (``classes.json``: ``split``).

Whatever the protocol, ``split.validation`` then carves a validation part out of the training
images only (never a query or a database-only image): per class, a count or a fraction of that
class's training images, always leaving at least one to train on (multi-label images are grouped by
their first label). The validation images leave the training list; when the training images are in
the database (``train_in_database``) they stay there, so the database is the same with or without
a validation part. Model selection reads them only (``deephash.validation``).
"""

from __future__ import annotations

import csv
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deephash.atomic import atomic_path
from deephash.data.base import Catalog
from deephash.errors import DeephashError

PARTS = ("train", "validation", "query", "database")
#: parts that may be empty (no validation: ``split.validation: 0``)
OPTIONAL_PARTS = ("validation",)


@dataclass
class Split:
    train: Catalog
    query: Catalog
    database: Catalog
    recipe: dict[str, Any] = field(default_factory=dict)  # protocol, seed and the options in effect
    validation: Catalog | None = None  # carved from the training images; None = empty

    def part(self, name: str) -> Catalog:
        if name == "validation":
            return self.validation if self.validation is not None else self.train.subset(np.zeros(0, dtype=np.int64))
        return {"train": self.train, "query": self.query, "database": self.database}[name]

    def counts(self) -> dict[str, int]:
        """Images per part; an empty optional part (no validation) is left out."""
        sizes = {name: len(self.part(name)) for name in PARTS}
        return {name: n for name, n in sizes.items() if n or name not in OPTIONAL_PARTS}


Protocol = Callable[..., Split]
PROTOCOLS: dict[str, Protocol] = {}


def protocol(name: str) -> Callable[[Protocol], Protocol]:
    def decorator(fn: Protocol) -> Protocol:
        PROTOCOLS[name] = fn
        return fn

    return decorator


@dataclass(frozen=True)
class Fixed:
    """A named protocol: a generic one with every option fixed, as a paper or toolkit set it."""

    build: Protocol
    options: dict[str, Any]
    about: str


def split_catalog(catalog: Catalog, name: str, seed: int, validation: int | float = 0, **options: Any) -> Split:
    """Split ``catalog`` by protocol ``name``; a named protocol replaces ``options`` with its own.

    ``validation`` (per class, a count or a fraction) is then carved from the training part.
    """
    if name in FIXED:
        build, options = FIXED[name].build, dict(FIXED[name].options)
    elif name in PROTOCOLS:
        build = PROTOCOLS[name]
    else:
        known = ", ".join([*PROTOCOLS, *FIXED])
        raise DeephashError(f"split.protocol: unknown protocol {name!r} (known: {known})")
    if len(catalog) == 0:
        raise DeephashError("the dataset has no images")
    try:
        inspect.signature(build).bind(catalog, None, **options)
    except TypeError as exc:
        raise DeephashError(f"split: bad options for protocol {name!r}: {exc}") from None
    rng = np.random.default_rng(seed)
    split = build(catalog, rng, **options)
    if validation:
        split.train, split.validation = carve_validation(split.train, validation, rng)
    for part in PARTS:
        if part not in OPTIONAL_PARTS and len(split.part(part)) == 0:
            raise DeephashError(f"split: the {part} part is empty with these split params")
    split.recipe = {"protocol": name, "seed": seed, **options, "validation": validation}
    return split


def carve_validation(train: Catalog, validation: int | float, rng: np.random.Generator) -> tuple[Catalog, Catalog]:
    """(training, validation) from the training part: per class (first label), ``validation`` images or
    that fraction of the class, at most all but one; both keep the training part's (shuffled) order."""
    first = train.labels.argmax(axis=1)
    chosen = []
    for c in np.unique(first):
        members = np.flatnonzero(first == c)
        count = min(_count(validation, len(members), "validation"), len(members) - 1)
        chosen.append(rng.permutation(members)[:count])
    held = np.zeros(len(train), dtype=bool)
    held[np.concatenate(chosen)] = True
    return train.subset(np.flatnonzero(~held)), train.subset(np.flatnonzero(held))


def protocol_help() -> dict[str, str]:
    """Every protocol with one line on what it does, for ``python -m deephash datasets``."""
    generic = {name: (fn.__doc__ or "").strip().splitlines()[0] for name, fn in PROTOCOLS.items()}
    return {**generic, **{name: fixed.about for name, fixed in FIXED.items()}}


def _count(value: int | float, available: int, key: str) -> int:
    """A count, or a fraction of ``available`` when 0 < value < 1."""
    if isinstance(value, float) and 0 < value < 1:
        return round(value * available)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or int(value) != value:
        raise DeephashError(f"split.{key}: expected a count >= 0 or a fraction in (0, 1), got {value!r}")
    return int(value)


def _query_pool(catalog: Catalog) -> np.ndarray | None:
    """Which images may be queries, for catalogues composed from pooled sources (else None)."""
    return None if catalog.pool is None else np.array([p == "query" for p in catalog.pool])


def _carve(
    members: np.ndarray,
    may_query: np.ndarray | None,
    query: int | float,
    train: int | float,
    database: int | float | str,
    what: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queries, training images and the rest of the database from ``members`` (already shuffled).

    Without pools the first images are the queries and the next ones the training set; with pools,
    queries come from the query pool and everything else from the database pool only.
    """
    n = len(members)
    pool = members if may_query is None else members[may_query[members]]
    n_query = _count(query, len(pool), "query")
    rest = members[n_query:] if may_query is None else members[~may_query[members]]
    base = n if may_query is None else len(rest)
    n_train = _count(train, base, "train")
    n_rest = len(rest) - n_train if database == "rest" else _count(database, base, "database")  # type: ignore[arg-type]
    if n == 0 or n_query > len(pool) or n_train + n_rest > len(rest) or n_rest < 0:
        pools = "" if may_query is None else f" ({len(pool)} in the query pool)"
        raise DeephashError(
            f"split: {what} has {n} images{pools}, fewer than the {n_query} query + {n_train} train"
            f" + {max(n_rest, 0)} database it needs"
        )
    return pool[:n_query], rest[:n_train], rest[n_train : n_train + n_rest]


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
    """Stratified: per class, `query` queries, `train` training images, then the database.

    ``database`` is ``rest`` (every image of the class that is not a query) or a count per class.
    """
    if catalog.multilabel:
        raise DeephashError(
            "split.protocol: per_class needs single-label data; use 'random' or 'label_quota' for multi-label sets"
        )
    classes = catalog.labels.argmax(axis=1)
    may_query = _query_pool(catalog)
    parts: dict[str, list[np.ndarray]] = {"query": [], "train": [], "rest": []}
    for c, name in enumerate(catalog.classes):
        members = rng.permutation(np.flatnonzero(classes == c))
        q, t, r = _carve(members, may_query, query, train, database, f"class {name!r}")
        parts["query"].append(q)
        parts["train"].append(t)
        parts["rest"].append(r)
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
    q, t, r = _carve(rng.permutation(len(catalog)), _query_pool(catalog), query, train, database, "the dataset")
    return _assemble(catalog, rng, [q], [t], [r], train_in_database)


@protocol("label_quota")
def label_quota(
    catalog: Catalog,
    rng: np.random.Generator,
    query: int = 100,
    train: int = 500,
    database: str = "rest",
    train_in_database: bool = True,
) -> Split:
    """Per-class quotas for multi-label sets: `query` and `train` images per class, the rest database.

    Walks a seeded permutation; an image goes to the first of its classes (in class order) that
    still has query room, else to the first with train room, else to the database. Each image
    counts against that one class only, so the parts hold exactly C x query and C x train images
    when the data allow (DeepHash-pytorch's NUS-WIDE-21 recipe).
    """
    if database != "rest":
        raise DeephashError(
            f"split.database: label_quota puts every other image in the database ('rest'), got {database!r}"
        )
    for key, value in (("query", query), ("train", train)):
        if not isinstance(value, int) or value < 0:
            raise DeephashError(f"split.{key}: label_quota needs a count per class >= 0, got {value!r}")
    may_query = _query_pool(catalog)
    _, cols = np.nonzero(catalog.labels)
    classes_of = np.split(cols, np.cumsum(catalog.labels.sum(axis=1, dtype=np.int64))[:-1])
    room = {"query": np.full(len(catalog.classes), query), "train": np.full(len(catalog.classes), train)}
    chosen: dict[str, list[int]] = {"query": [], "train": [], "rest": []}
    order = rng.permutation(len(catalog))
    left = (query + train) * len(catalog.classes)
    for position, i in enumerate(order.tolist()):
        if not left:  # every quota is full: the remaining images are all database
            tail = order[position:]
            chosen["rest"] += (tail if may_query is None else tail[~may_query[tail]]).tolist()
            break
        allowed = ("query", "train") if may_query is None else (("query",) if may_query[i] else ("train",))
        part = next((p for p in allowed for c in classes_of[i] if room[p][c]), "rest")
        if part != "rest":
            room[part][next(c for c in classes_of[i] if room[part][c])] -= 1
            left -= 1
        if part != "rest" or may_query is None or not may_query[i]:
            chosen[part].append(i)
    index = {p: [np.array(v, dtype=np.int64)] for p, v in chosen.items()}
    return _assemble(catalog, rng, index["query"], index["train"], index["rest"], train_in_database)


def official(catalog: Catalog, rng: np.random.Generator, swap: bool = False) -> Split:
    """The dataset's own parts: query = test (or a query list), train = train, database = a
    database list if there is one, else the training part. ``swap`` exchanges train and test."""
    if catalog.official is None:
        raise DeephashError("split.protocol: this dataset has no official split; use per_class, random or label_quota")
    tags = [set(t.split("+")) for t in catalog.official]
    query = np.array([i for i, t in enumerate(tags) if t & {"test", "query"}], dtype=np.int64)
    train = np.array([i for i, t in enumerate(tags) if "train" in t], dtype=np.int64)
    listed = np.array([i for i, t in enumerate(tags) if "database" in t], dtype=np.int64)
    if swap:
        query, train = train, query
    database = listed if len(listed) and not swap else train
    both = np.intersect1d(query, database)
    if len(both):
        raise DeephashError(f"split: image {catalog.ids[both[0]]!r} is both a query and in the database")
    return Split(
        train=catalog.subset(rng.permutation(train)),
        query=catalog.subset(rng.permutation(query)),
        database=catalog.subset(rng.permutation(database)),
    )


FIXED: dict[str, Fixed] = {
    "official": Fixed(
        official,
        {},
        "query = official test, train = database = official train (SEMICON's CUB/Aircraft/Food-101/NABirds);"
        " with list files, the query, train and database lists",
    ),
    "official-swapped": Fixed(
        official, {"swap": True}, "query = official train, train = database = official test (SHC's NABirds-A counts)"
    ),
    "cifar10": Fixed(
        per_class,
        {"query": 100, "train": 500, "database": "rest", "train_in_database": False},
        "DeepHash-pytorch cifar10: per class 100 query, 500 train; 1,000 / 5,000 / 54,000 (train not in database)",
    ),
    "cifar10-1": Fixed(
        per_class,
        {"query": 100, "train": 500, "database": "rest", "train_in_database": True},
        "DeepHash-pytorch cifar10-1: 1,000 query / 5,000 train / 59,000 database (train in database)",
    ),
    "cifar10-2": Fixed(
        per_class,
        {"query": 1000, "train": 5000, "database": 0, "train_in_database": True},
        "DeepHash-pytorch cifar10-2: 10,000 query / 50,000 train = database",
    ),
    "shc-cifar100": Fixed(
        per_class,
        {"query": 50, "train": 100, "database": 450, "train_in_database": False},
        "SHC's CIFAR-100: 5,000 query / 10,000 train / 45,000 database, disjoint (stratified: 50/100/450 per class)",
    ),
    "hashnet": Fixed(
        random_split,
        {"query": 5000, "train": 10000, "database": "rest", "train_in_database": True},
        "HashNet's COCO / NUS-WIDE-81: 5,000 random queries, 10,000 training images from the database, database = rest",
    ),
    "nuswide21": Fixed(
        label_quota,
        {"query": 100, "train": 500, "database": "rest", "train_in_database": True},
        "DeepHash-pytorch NUS-WIDE-21: 100 query and 500 train per class (2,100 / 10,500), database = all non-query",
    ),
}


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
    """A split directory: ``{train,validation,query,database}.tsv`` and ``classes.json``, written atomically."""
    from deephash.atomic import write_json

    with atomic_path(directory, directory=True) as tmp:
        for part in PARTS:
            write_list(tmp / f"{part}.tsv", split.part(part))
        meta = {"dataset": dataset, "classes": split.train.classes, "split": split.recipe, **(extra or {})}
        write_json(tmp / "classes.json", meta)


def read_split(directory: str | Path) -> Split:
    directory = Path(directory)
    meta = directory / "classes.json"
    if not meta.exists():
        raise DeephashError("no classes.json: not a split directory (run the split stage first)", path=directory)
    import json

    classes = json.loads(meta.read_text(encoding="utf-8"))["classes"]
    parts = {
        part: read_list(directory / f"{part}.tsv", classes)
        for part in PARTS
        if part not in OPTIONAL_PARTS or (directory / f"{part}.tsv").exists()
    }
    parts.setdefault("validation", Catalog(ids=[], sources=[], labels=np.zeros((0, len(classes))), classes=classes))
    return Split(train=parts["train"], query=parts["query"], database=parts["database"], validation=parts["validation"])


def split_dataset_name(directory: str | Path) -> str:
    import json

    return str(json.loads((Path(directory) / "classes.json").read_text(encoding="utf-8"))["dataset"])

"""The split protocols give the documented sizes on synthetic catalogues of the datasets' real sizes."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.data.base import Catalog, one_hot
from deephash.data.split import FIXED, PROTOCOLS, split_catalog
from deephash.errors import DeephashError


def single_label(num_classes: int, per_class: int, official: list[str] | None = None) -> Catalog:
    n = num_classes * per_class
    ids = [f"img{i}" for i in range(n)]
    return Catalog(
        ids, ids, one_hot(np.arange(n) % num_classes, num_classes), [str(c) for c in range(num_classes)], official
    )


def multi_label(n: int, num_classes: int, seed: int = 0) -> Catalog:
    """Zipf-like label frequencies, 1-3 labels per image, every class used."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, num_classes + 1)
    labels = np.zeros((n, num_classes), dtype=np.uint8)
    for k in range(1, 4):
        rows = np.flatnonzero(rng.random(n) < (1.0 if k == 1 else 0.4))
        labels[rows, rng.choice(num_classes, size=len(rows), p=weights / weights.sum())] = 1
    ids = [f"img{i}" for i in range(n)]
    return Catalog(ids, ids, labels, [str(c) for c in range(num_classes)])


def disjoint(a: Catalog, b: Catalog) -> bool:
    return not set(a.ids) & set(b.ids)


@pytest.fixture(scope="module")
def cifar10() -> Catalog:
    return single_label(10, 6000)


@pytest.mark.parametrize(
    ("name", "counts", "train_in_database"),
    [
        ("cifar10", {"train": 5000, "query": 1000, "database": 54000}, False),
        ("cifar10-1", {"train": 5000, "query": 1000, "database": 59000}, True),
        ("cifar10-2", {"train": 50000, "query": 10000, "database": 50000}, True),
    ],
)
def test_cifar10_protocols(cifar10, name, counts, train_in_database):
    split = split_catalog(cifar10, name, seed=0, query=1, train=1)  # a named protocol ignores these
    assert split.counts() == counts
    assert disjoint(split.query, split.database) and disjoint(split.query, split.train)
    assert (set(split.train.ids) <= set(split.database.ids)) is train_in_database
    assert (split.query.labels.sum(0) == counts["query"] // 10).all()
    assert split.recipe["protocol"] == name and split.recipe["query"] == counts["query"] // 10


def test_shc_cifar100_protocol_is_disjoint():
    split = split_catalog(single_label(100, 600), "shc-cifar100", seed=0)
    assert split.counts() == {"train": 10000, "query": 5000, "database": 45000}
    assert disjoint(split.train, split.database) and disjoint(split.query, split.database)


def test_hashnet_protocol_on_coco_size():
    split = split_catalog(multi_label(122218, 80), "hashnet", seed=0)
    assert split.counts() == {"train": 10000, "query": 5000, "database": 117218}
    assert set(split.train.ids) <= set(split.database.ids) and disjoint(split.query, split.database)


def test_nuswide21_quota_protocol():
    catalog = multi_label(195834, 21)
    split = split_catalog(catalog, "nuswide21", seed=0)
    assert split.counts() == {"train": 10500, "query": 2100, "database": 193734}
    assert disjoint(split.query, split.database) and set(split.train.ids) <= set(split.database.ids)
    assert (split.query.labels.sum(0) >= 100).all()  # every class reaches its quota (co-labels add more)


def test_label_quota_counts_each_image_against_one_class():
    catalog = multi_label(3000, 5, seed=1)
    split = split_catalog(catalog, "label_quota", seed=3, query=7, train=20)
    assert split.counts() == {"train": 100, "query": 35, "database": 3000 - 35}


def test_official_protocols():
    catalog = single_label(4, 5, official=["train", "train", "test", "train", "test"] * 4)
    split = split_catalog(catalog, "official", seed=0)
    assert split.counts() == {"train": 12, "query": 8, "database": 12}
    swapped = split_catalog(catalog, "official-swapped", seed=0)
    assert swapped.counts() == {"train": 8, "query": 12, "database": 8}
    with pytest.raises(DeephashError, match="has no official split"):
        split_catalog(single_label(4, 5), "official", seed=0)


def test_generic_per_class_by_fractions():
    split = split_catalog(single_label(5, 40), "per_class", seed=0, query=0.1, train=0.5, database="rest")
    assert split.counts() == {"train": 100, "query": 20, "database": 180}


@pytest.mark.parametrize("name", [*PROTOCOLS, *FIXED])
def test_same_seed_same_split(name):
    if name.startswith("official"):
        catalog = single_label(10, 20, official=["train", "test"] * 100)
    elif name in ("label_quota", "nuswide21", "hashnet"):
        catalog = multi_label(16000 if name == "hashnet" else 800, 21)
    else:
        catalog = single_label(100 if name == "shc-cifar100" else 10, 6000 if name.startswith("cifar10") else 600)
    options = {"query": 2, "train": 5} if name in PROTOCOLS else {}
    a, b, c = (split_catalog(catalog, name, seed=s, **options) for s in (4, 4, 5))
    for part in ("train", "query", "database"):
        assert a.part(part).ids == b.part(part).ids
    assert a.query.ids != c.query.ids


def test_pools_keep_queries_away_from_the_database():
    catalog = single_label(3, 30)
    catalog.pool = ["query" if i % 5 == 0 else "database" for i in range(len(catalog))]
    for name, options in (("per_class", {"query": 4, "train": 10}), ("random", {"query": 12, "train": 30})):
        split = split_catalog(catalog, name, seed=0, **options)
        assert set(split.query.pool) == {"query"} and set(split.database.pool) == {"database"}
        assert len(split.database) == 72  # every database-pool image, no query-pool leftover
    with pytest.raises(DeephashError, match=r"class '0' has 30 images \(6 in the query pool\), fewer than the 7"):
        split_catalog(catalog, "per_class", seed=0, query=7, train=10)


def test_a_count_that_is_not_a_number_is_named():
    with pytest.raises(
        DeephashError, match=r"split\.train: expected a count >= 0 or a fraction in \(0, 1\), got 'rest'"
    ):
        split_catalog(single_label(3, 10), "per_class", seed=0, query=2, train="rest")


def test_empty_part_is_an_error():
    with pytest.raises(DeephashError, match="the train part is empty"):
        split_catalog(single_label(3, 10), "per_class", seed=0, query=2, train=0)


def test_named_protocol_fails_on_a_dataset_too_small():
    with pytest.raises(DeephashError, match=r"class '0' has 100 images, fewer than the 50 query \+ 100 train \+ 450"):
        split_catalog(single_label(100, 100), "shc-cifar100", seed=0)

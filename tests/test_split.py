import numpy as np
import pytest

from deephash.data import create_dataset
from deephash.data.base import Catalog
from deephash.data.split import read_list, read_split, split_catalog, write_list, write_split
from deephash.errors import DeephashError


@pytest.fixture(scope="module")
def digits():
    return create_dataset("digits").catalog()


def test_digits_catalog(digits):
    assert len(digits) == 1797
    assert digits.labels.shape == (1797, 10)
    assert (digits.labels.sum(1) == 1).all()
    assert not digits.multilabel


def test_per_class_counts_and_disjointness(digits):
    split = split_catalog(digits, "per_class", seed=0, query=10, train=50)
    assert split.counts() == {"train": 500, "query": 100, "database": 1697}
    assert (split.query.labels.sum(0) == 10).all() and (split.train.labels.sum(0) == 50).all()
    query, train, db = set(split.query.ids), set(split.train.ids), set(split.database.ids)
    assert not query & db and not query & train
    assert train <= db  # train_in_database


def test_train_outside_database(digits):
    split = split_catalog(digits, "per_class", seed=0, query=10, train=50, train_in_database=False)
    assert not set(split.train.ids) & set(split.database.ids)
    assert len(split.database) == 1797 - 100 - 500


def test_same_seed_same_split_other_seed_other_split(digits):
    a = split_catalog(digits, "per_class", seed=7, query=5, train=20)
    b = split_catalog(digits, "per_class", seed=7, query=5, train=20)
    c = split_catalog(digits, "per_class", seed=8, query=5, train=20)
    assert a.database.ids == b.database.ids and a.query.ids == b.query.ids
    assert a.query.ids != c.query.ids


def test_database_is_shuffled_not_grouped_by_class(digits):
    split = split_catalog(digits, "per_class", seed=0, query=10, train=50)
    classes = split.database.labels.argmax(1)
    runs = 1 + int((np.diff(classes) != 0).sum())
    assert runs > len(classes) / 2  # a class-grouped order would have 10 runs


def test_too_few_images_names_the_class(digits):
    with pytest.raises(DeephashError, match="class '0'"):
        split_catalog(digits, "per_class", seed=0, query=100, train=100)


def test_per_class_refuses_multilabel():
    cat = Catalog(ids=["a", "b"], sources=["a", "b"], labels=np.array([[1, 1], [0, 1]]), classes=["x", "y"])
    with pytest.raises(DeephashError, match="random"):
        split_catalog(cat, "per_class", seed=0)


def test_random_protocol_fractions(digits):
    split = split_catalog(digits, "random", seed=0, query=0.1, train=0.2, train_in_database=True)
    assert len(split.query) == 180 and len(split.train) == 359


def test_unknown_protocol(digits):
    with pytest.raises(DeephashError, match=r"split\.protocol"):
        split_catalog(digits, "nope", seed=0)


def test_list_round_trip(tmp_path, digits):
    split = split_catalog(digits, "per_class", seed=0, query=2, train=3)
    write_split(tmp_path / "s", split, "digits")
    back = read_split(tmp_path / "s")
    assert back.database.ids == split.database.ids
    assert np.array_equal(back.train.labels, split.train.labels)


def test_bad_list_line_is_named(tmp_path, digits):
    part = digits.subset(np.arange(3))
    write_list(tmp_path / "l.tsv", part)
    lines = (tmp_path / "l.tsv").read_text().splitlines()
    lines[2] = lines[2].rsplit("\t", 1)[0] + "\t0 1 2 0 0 0 0 0 0 0"
    (tmp_path / "l.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DeephashError, match=r"l\.tsv:3: expected 10 labels of 0/1"):
        read_list(tmp_path / "l.tsv", digits.classes)


@pytest.mark.parametrize("train_in_database", [True, False])
def test_validation_comes_from_training_images_only(digits, train_in_database):
    plain = split_catalog(digits, "per_class", seed=0, query=10, train=50, train_in_database=train_in_database)
    split = split_catalog(
        digits, "per_class", seed=0, query=10, train=50, train_in_database=train_in_database, validation=3
    )
    val, train = set(split.validation.ids), set(split.train.ids)
    assert (split.validation.labels.sum(0) == 3).all() and len(split.train) == 470
    assert split.counts() == {"train": 470, "validation": 30, "query": 100, "database": len(plain.database)}
    assert val | train == set(plain.train.ids) and not val & train
    assert not val & set(split.query.ids)
    assert split.query.ids == plain.query.ids and split.database.ids == plain.database.ids
    assert (val <= set(split.database.ids)) is train_in_database  # never a database-only image


def test_validation_fraction_keeps_one_training_image_per_class(digits):
    split = split_catalog(digits, "per_class", seed=0, query=10, train=20, validation=0.25)
    assert (split.validation.labels.sum(0) == 5).all()
    tiny = split_catalog(digits, "per_class", seed=0, query=10, train=2, validation=5)
    assert (tiny.validation.labels.sum(0) == 1).all() and (tiny.train.labels.sum(0) == 1).all()
    with pytest.raises(DeephashError, match=r"split\.validation"):
        split_catalog(digits, "per_class", seed=0, query=10, train=20, validation=-1)


def test_named_protocols_get_a_validation_part_too(digits):
    split = split_catalog(digits, "random", seed=0, query=0.1, train=0.2, validation=0.1)
    assert 0 < len(split.validation) < len(split.train) and not set(split.validation.ids) & set(split.train.ids)


def test_validation_round_trip(tmp_path, digits):
    split = split_catalog(digits, "per_class", seed=0, query=2, train=5, validation=2)
    write_split(tmp_path / "s", split, "digits")
    back = read_split(tmp_path / "s")
    assert back.part("validation").ids == split.part("validation").ids
    assert back.train.ids == split.train.ids

"""Image files on disk: imagefolder, list and coco adapters, each on a fixture in its real format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deephash.data import create_dataset
from deephash.data.split import split_catalog
from deephash.errors import DeephashError


def write_image(path: Path, seed: int = 0, size: tuple[int, int] = (12, 10)) -> np.ndarray:
    """A real image file (format from the extension) of random pixels; returns the RGB pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# --- imagefolder ------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write_image(root / "cat" / "a.jpg", 0)
    write_image(root / "cat" / "deeper" / "b.png", 1)
    write_image(root / "dog" / "c.JPEG", 2)
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_imagefolder_reads_sorted_classes_recursively(folder):
    adapter = create_dataset("imagefolder", str(folder))
    catalog = adapter.catalog()
    assert catalog.classes == ["cat", "dog"]
    assert catalog.ids == ["cat/a.jpg", "cat/deeper/b.png", "dog/c.JPEG"]
    assert catalog.labels.argmax(1).tolist() == [0, 0, 1]
    images = list(adapter.read(catalog.sources))
    assert [img.shape for img in images] == [(10, 12, 3)] * 3
    png = np.asarray(Image.open(folder / "cat" / "deeper" / "b.png").convert("RGB"))
    assert np.array_equal(images[1], png)  # PNG is lossless: the exact pixels


def test_imagefolder_train_test_tree_gives_the_official_split(tmp_path):
    root = tmp_path / "cars"
    for part, n in (("train", 3), ("test", 2)):
        for c in ("audi", "bmw"):
            for i in range(n):
                write_image(root / part / c / f"{i}.jpg", i)
    catalog = create_dataset("imagefolder", str(root), train_test=True).catalog()
    assert catalog.official is not None and catalog.official.count("train") == 6
    split = split_catalog(catalog, "official", seed=0)
    assert split.counts() == {"train": 6, "query": 4, "database": 6}
    assert all(i.startswith("test/") for i in split.query.ids)


def test_imagefolder_empty_class_folder_is_named(folder):
    (folder / "emu").mkdir()
    with pytest.raises(DeephashError, match=r"emu: class folder has no image"):
        create_dataset("imagefolder", str(folder)).catalog()


def test_missing_root_names_the_expected_layout(tmp_path):
    with pytest.raises(
        DeephashError, match=r"nowhere: dataset root does not exist; expected this layout: root/<class>"
    ):
        create_dataset("imagefolder", str(tmp_path / "nowhere")).catalog()


def test_truncated_and_unreadable_images_are_named(folder):
    jpeg = folder / "cat" / "a.jpg"
    write_image(jpeg, 0, size=(64, 64))
    jpeg.write_bytes(jpeg.read_bytes()[:300])
    (folder / "dog" / "c.JPEG").write_bytes(b"this is not a jpeg")
    adapter = create_dataset("imagefolder", str(folder))
    with pytest.raises(DeephashError, match=r"a\.jpg: unreadable or truncated image \(Truncated"):
        list(adapter.read(["cat/a.jpg"]))
    with pytest.raises(DeephashError, match=r"c\.JPEG: unreadable or truncated image"):
        list(adapter.read(["dog/c.JPEG"]))


def test_unknown_adapter_option_is_named(folder):
    with pytest.raises(DeephashError, match=r"dataset\.imagefolder\.recursive: unknown option"):
        create_dataset("imagefolder", str(folder), recursive=True)


# --- list ---------------------------------------------------------------------------------------


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    """DeepHash-pytorch's layout: test = query, train inside database, 3 multi-hot labels."""
    root = tmp_path / "nus"
    for i in range(8):
        write_image(root / "images" / f"{i}.jpg", i)
    write_lines(root / "test.txt", ["images/0.jpg 1 0 0", "images/1.jpg 0 1 1"])
    write_lines(root / "train.txt", ["images/2.jpg 1 1 0", "images/3.jpg 0 0 1"])
    write_lines(
        root / "database.txt",
        ["images/2.jpg 1 1 0", "images/3.jpg 0 0 1", "images/4.jpg 0 1 0", "images/5.jpg 1 0 1"],
    )
    return root


def test_list_files_give_the_official_parts(lists):
    catalog = create_dataset("list", str(lists)).catalog()
    assert catalog.multilabel and catalog.classes == ["0", "1", "2"]
    assert len(catalog) == 6  # images listed in train and database are one image with both tags
    assert catalog.official[catalog.ids.index("images/2.jpg")] == "database+train"
    split = split_catalog(catalog, "official", seed=0)
    assert split.counts() == {"train": 2, "query": 2, "database": 4}
    assert sorted(split.query.ids) == ["images/0.jpg", "images/1.jpg"]
    row = split.query.ids.index("images/1.jpg")
    assert split.query.labels[row].tolist() == [0, 1, 1]


def test_one_list_split_by_protocol_with_rewritten_absolute_paths(lists):
    prefix = "/home/author/dataset/nus/"
    write_lines(lists / "all.txt", [f"{prefix}images/{i}.jpg {i % 2} {1 - i % 2}" for i in range(8)])
    adapter = create_dataset("list", str(lists), lists="all.txt", prefix_from=prefix, prefix_to="")
    catalog = adapter.catalog()
    assert catalog.ids == [f"images/{i}.jpg" for i in range(8)] and catalog.official is None
    split = split_catalog(catalog, "random", seed=0, query=2, train=3)
    assert split.counts() == {"train": 3, "query": 2, "database": 6}
    assert next(adapter.read(split.query.sources[:1])).shape == (10, 12, 3)


def test_list_with_class_indices_and_names(lists):
    write_lines(lists / "names.txt", ["sky", "grass", "water"])
    write_lines(lists / "veg.txt", [f"images/{i}.jpg {i % 3}" for i in range(6)])
    catalog = create_dataset("list", str(lists), lists="veg.txt", label_format="index", classes="names.txt").catalog()
    assert catalog.classes == ["sky", "grass", "water"] and not catalog.multilabel
    assert catalog.labels.argmax(1).tolist() == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("images/9.jpg 1 0 0", r"test\.txt:2: listed image 'images/9\.jpg' not found"),
        ("images/1.jpg 0 1", r"test\.txt:2: expected 3 labels, got 2"),
        ("images/1.jpg 0 2 1", r"test\.txt:2: label '2' is not 0 or 1"),
        ("images/0.jpg 1 0 0", r"test\.txt:2: duplicate image 'images/0\.jpg' \(first on line 1\)"),
        ("../outside.jpg 1 0 0", r"test\.txt:2: path '\.\./outside\.jpg' resolves outside the dataset root"),
        ("/etc/passwd 1 0 0", r"test\.txt:2: path '/etc/passwd' resolves outside the dataset root"),
        ("images/4.jpg 0 0 0", r"test\.txt:2: no label is 1"),
    ],
)
def test_bad_list_lines_are_named(lists, line, message):
    write_lines(lists / "test.txt", ["images/0.jpg 1 0 0", line])
    with pytest.raises(DeephashError, match=message):
        create_dataset("list", str(lists)).catalog()


def test_list_that_is_not_utf8_names_the_line(lists):
    (lists / "test.txt").write_bytes(b"images/0.jpg 1 0 0\nimages/caf\xe9.jpg 0 1 0\n")
    with pytest.raises(DeephashError, match=r"test\.txt:2: not UTF-8 text"):
        create_dataset("list", str(lists)).catalog()


def test_empty_list_is_an_empty_split(lists):
    write_lines(lists / "test.txt", [])
    with pytest.raises(DeephashError, match=r"test\.txt: the list is empty"):
        create_dataset("list", str(lists)).catalog()


def test_class_without_image_is_named(lists):
    write_lines(lists / "one.txt", ["images/0.jpg 1 0 0", "images/1.jpg 1 1 0"])
    with pytest.raises(DeephashError, match=r"one\.txt: class '2' has no image"):
        create_dataset("list", str(lists), lists="one.txt").catalog()


def test_image_listed_twice_with_other_labels(lists):
    write_lines(lists / "train.txt", ["images/2.jpg 1 0 0"])
    with pytest.raises(DeephashError, match=r"database\.txt:1: 'images/2\.jpg' has other labels on line 1 of train"):
        create_dataset("list", str(lists)).catalog()


# --- coco ---------------------------------------------------------------------------------------


def test_coco_hashing_lists_with_absolute_paths(tmp_path):
    root = tmp_path / "COCO_2014"
    prefix = "/home/hashnet/dataset/coco/"
    parts = {"test": range(0, 3), "train": range(3, 6), "database": range(3, 10)}
    rng = np.random.default_rng(0)
    vectors = {i: rng.integers(0, 2, 80) for i in range(10)}
    for i in range(10):
        vectors[i][i] = 1  # never all zero
        write_image(root / "val2014" / f"COCO_val2014_{i:012d}.jpg", i)
    vectors[0][:] = 1  # every class has an image
    for part, ids in parts.items():
        write_lines(
            root / f"{part}.txt",
            [f"{prefix}val2014/COCO_val2014_{i:012d}.jpg {' '.join(map(str, vectors[i]))}" for i in ids],
        )
    catalog = create_dataset("coco", str(root), prefix_from=prefix).catalog()
    assert catalog.labels.shape == (10, 80)
    assert "val2014/COCO_val2014_000000000000.jpg" in catalog.ids
    split = split_catalog(catalog, "official", seed=1)
    assert split.counts() == {"train": 3, "query": 3, "database": 7}
    write_lines(root / "test.txt", [f"val2014/COCO_val2014_{0:012d}.jpg " + " ".join(["1"] * 79)])
    with pytest.raises(DeephashError, match=r"test\.txt:1: expected 80 labels, got 79"):
        create_dataset("coco", str(root), prefix_from=prefix).catalog()


# --- paired path / label files ------------------------------------------------------------------


def test_flickr25k_paired_files_split_by_protocol(tmp_path):
    """The SSDH port's FLICKR25K: img.txt (one path per line) beside targets.txt (one 0/1 vector per line)."""
    rng = np.random.default_rng(0)
    vectors = rng.integers(0, 2, (8, 24))
    vectors[np.arange(8), np.arange(8)] = 1  # no image without a tag
    vectors[0] = 1  # no tag without an image
    for i in range(8):
        write_image(tmp_path / "mirflickr" / f"im{i + 1}.jpg", i)
    write_lines(tmp_path / "img.txt", [f"mirflickr/im{i + 1}.jpg" for i in range(8)] + [""])
    write_lines(tmp_path / "targets.txt", [" ".join(map(str, v)) for v in vectors])
    catalog = create_dataset("list", str(tmp_path), lists=["img.txt", "targets.txt"]).catalog()
    assert catalog.ids == [f"mirflickr/im{i + 1}.jpg" for i in range(8)] and catalog.official is None
    assert catalog.labels.tolist() == vectors.tolist() and catalog.multilabel
    assert split_catalog(catalog, "random", seed=0, query=2, train=3).counts() == {
        "train": 3,
        "query": 2,
        "database": 6,
    }


@pytest.fixture
def nuswide(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """NUS-WIDE as the SSDH port ships it: <part>_img.txt + <part>_label_onehot.txt per part."""
    root = tmp_path / "NUS-WIDE"
    parts = {"test": [0, 1], "train": [2, 3], "database": [2, 3, 4, 5]}
    for i in range(6):
        write_image(root / "images" / f"{i:04d}_{i}.jpg", i)
    for part, rows in parts.items():
        write_lines(root / f"{part}_img.txt", [f"images/{i:04d}_{i}.jpg" for i in rows])
        onehot = [" ".join("1" if c == i % 3 else "0" for c in range(3)) for i in rows]
        write_lines(root / f"{part}_label_onehot.txt", onehot)
    lists = {part: [f"{part}_img.txt", f"{part}_label_onehot.txt"] for part in parts}
    return root, lists


def test_nuswide_paired_parts_give_the_official_split(nuswide):
    root, lists = nuswide
    catalog = create_dataset("list", str(root), lists=lists).catalog()
    assert len(catalog) == 6 and catalog.official[catalog.ids.index("images/0002_2.jpg")] == "database+train"
    assert catalog.labels[catalog.ids.index("images/0004_4.jpg")].tolist() == [0, 1, 0]
    split = split_catalog(catalog, "official", seed=0)
    assert split.counts() == {"train": 2, "query": 2, "database": 4}


def test_paired_count_mismatch_names_both_files(nuswide):
    root, lists = nuswide
    write_lines(root / "test_label_onehot.txt", ["1 0 0"])
    with pytest.raises(DeephashError) as error:
        create_dataset("list", str(root), lists=lists).catalog()
    message = str(error.value)
    assert "\n" not in message and "2 image paths in" in message and "1 label vectors in" in message
    assert str(root / "test_img.txt") in message and str(root / "test_label_onehot.txt") in message


@pytest.mark.parametrize(
    ("paths", "vectors", "message"),
    [
        (["images/0000_0.jpg", "images/0001_1.jpg"], ["1 0 0", "0 1"], r"test_label_onehot\.txt:2: expected 3 labels"),
        (["images/0000_0.jpg", "images/0001_1.jpg"], ["1 0 0", "0 2 0"], r"test_label_onehot\.txt:2: label '2'"),
        (["images/0000_0.jpg", "images/9.jpg"], ["1 0 0", "0 1 0"], r"test_img\.txt:2: listed image 'images/9\.jpg'"),
        (["images/0000_0.jpg", "../x.jpg"], ["1 0 0", "0 1 0"], r"test_img\.txt:2: path '\.\./x\.jpg' resolves"),
        (["images/0000_0.jpg", "images/0000_0.jpg"], ["1 0 0", "1 0 0"], r"test_img\.txt:2: duplicate image"),
        ([], [], r"test_img\.txt: the list is empty"),
    ],
)
def test_bad_paired_lines_are_named(nuswide, paths, vectors, message):
    root, lists = nuswide
    write_lines(root / "test_img.txt", paths)
    write_lines(root / "test_label_onehot.txt", vectors)
    with pytest.raises(DeephashError, match=message):
        create_dataset("list", str(root), lists=lists).catalog()


def test_paired_file_that_is_not_utf8_names_the_line(nuswide):
    root, lists = nuswide
    (root / "test_img.txt").write_bytes(b"images/0000_0.jpg\nimages/caf\xe9.jpg\n")
    with pytest.raises(DeephashError, match=r"test_img\.txt:2: not UTF-8 text"):
        create_dataset("list", str(root), lists=lists).catalog()


@pytest.mark.parametrize("lists", [["img.txt"], ["img.txt", "targets.txt", "x.txt"], {"test": ["a.txt", 3]}])
def test_malformed_pair_option_is_refused(tmp_path, lists):
    with pytest.raises(DeephashError, match=r"dataset\.list\.lists: expected a file, a pair"):
        create_dataset("list", str(tmp_path), lists=lists)

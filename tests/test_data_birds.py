"""CUB-200-2011 and NABirds: id files joined on the image id, on fixtures in their real layouts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from test_data_files import write_image, write_lines

from deephash.data import create_dataset
from deephash.data.split import split_catalog, write_split
from deephash.errors import DeephashError

CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]


@pytest.fixture
def cub(tmp_path: Path) -> Path:
    """3 classes x 2 images; the id files list the ids in different orders (joined on id, not line)."""
    base = tmp_path / "CUB_200_2011"
    images, labels, split = [], [], []
    for image_id in range(1, 7):
        class_id = (image_id - 1) // 2 + 1
        relative = f"{CUB_CLASSES[class_id - 1]}/bird_{image_id}.jpg"
        write_image(base / "images" / relative, image_id)
        images.append(f"{image_id} {relative}")
        labels.append(f"{image_id} {class_id}")
        split.append(f"{image_id} {image_id % 2}")
    write_lines(base / "images.txt", images)
    write_lines(base / "image_class_labels.txt", labels[::-1])
    write_lines(base / "train_test_split.txt", split[3:] + split[:3])
    write_lines(base / "classes.txt", [f"{i + 1} {name}" for i, name in enumerate(CUB_CLASSES)])
    return tmp_path


def test_cub_joins_on_image_id(cub):
    adapter = create_dataset("cub200", str(cub))
    catalog = adapter.catalog()
    assert catalog.ids == ["1", "2", "3", "4", "5", "6"]
    assert catalog.classes == CUB_CLASSES
    assert catalog.labels.argmax(1).tolist() == [0, 0, 1, 1, 2, 2]
    assert catalog.official == ["train", "test"] * 3
    assert catalog.sources[2] == "002.Laysan_Albatross/bird_3.jpg"
    assert next(adapter.read(catalog.sources[:1])).shape == (10, 12, 3)
    split = split_catalog(catalog, "official", seed=0)
    assert split.counts() == {"train": 3, "query": 3, "database": 3}


@pytest.mark.parametrize(
    ("name", "lines", "message"),
    [
        ("images.txt", ["1 a.jpg", "1 b.jpg"], r"images\.txt:2: duplicate id '1' \(first on line 1\)"),
        ("image_class_labels.txt", ["1 1", "2 1", "3 2"], r"image id '4' \(line 4 of images\.txt\) is missing here"),
        ("image_class_labels.txt", [f"{i} {min(i, 4)}" for i in range(1, 7)], r"image_class_labels\.txt:4: class id 4"),
        (
            "train_test_split.txt",
            [f"{i} {2 if i == 5 else 1}" for i in range(1, 7)],
            r"split\.txt:5: is_train flag '2'",
        ),
        ("classes.txt", ["1 a", "2 b", "4 c"], r"classes\.txt: class ids must be 1\.\.3"),
    ],
)
def test_bad_cub_files_are_named(cub, name, lines, message):
    write_lines(cub / "CUB_200_2011" / name, lines)
    with pytest.raises(DeephashError, match=message):
        create_dataset("cub200", str(cub)).catalog()


def test_cub_missing_image_names_images_txt_line(cub):
    (cub / "CUB_200_2011" / "images" / CUB_CLASSES[1] / "bird_4.jpg").unlink()
    with pytest.raises(DeephashError, match=r"images\.txt:4: listed image '002\.Laysan_Albatross/bird_4\.jpg' not"):
        create_dataset("cub200", str(cub)).catalog()


def test_cub_missing_root_names_the_layout(tmp_path):
    with pytest.raises(DeephashError, match=r"images\.txt not found here or in CUB_200_2011/; expected this layout"):
        create_dataset("cub200", str(tmp_path)).catalog()


LEAVES = [817, 295, 1000]  # scattered over the taxonomy's ids, listed unsorted


@pytest.fixture
def nabirds(tmp_path: Path) -> Path:
    base = tmp_path / "nabirds"
    images, labels, split = [], [], []
    for i in range(6):
        image_id = str(uuid.UUID(int=1000 + i))
        class_id = LEAVES[i % 3]
        relative = f"{class_id:04d}/{image_id.replace('-', '')}.jpg"
        write_image(base / "images" / relative, i)
        images.append(f"{image_id} {relative}")
        labels.append(f"{image_id} {class_id}")
        split.append(f"{image_id} {int(i < 3)}")
    write_lines(base / "images.txt", images)
    write_lines(base / "image_class_labels.txt", labels)
    write_lines(base / "train_test_split.txt", split)
    taxonomy = {0: "Birds", 1: "Perching Birds", 295: "Bald Eagle", 817: "Mallard (Male)", 1000: "Snow Goose"}
    write_lines(base / "classes.txt", [f"{k} {v}" for k, v in taxonomy.items()])
    return tmp_path


def test_nabirds_maps_leaf_ids_through_a_sorted_list_saved_with_the_split(nabirds, tmp_path):
    catalog = create_dataset("nabirds", str(nabirds / "nabirds")).catalog()
    assert catalog.classes == ["Bald Eagle", "Mallard (Male)", "Snow Goose"]
    assert catalog.extra["class_ids"] == [295, 817, 1000]
    assert catalog.ids[0] == "00000000-0000-0000-0000-0000000003e8"
    assert catalog.labels.argmax(1).tolist() == [1, 0, 2, 1, 0, 2]
    split = split_catalog(catalog, "official", seed=0)
    write_split(tmp_path / "split", split, "nabirds", catalog.extra)
    meta = json.loads((tmp_path / "split" / "classes.json").read_text())
    assert meta["class_ids"] == [295, 817, 1000] and meta["split"]["protocol"] == "official"


def test_nabirds_leaf_missing_from_classes_txt(nabirds):
    write_lines(nabirds / "nabirds" / "classes.txt", ["295 Bald Eagle", "817 Mallard"])
    with pytest.raises(DeephashError, match=r"classes\.txt: class id 1000 labels images but is not listed"):
        create_dataset("nabirds", str(nabirds)).catalog()

"""Stanford Dogs: Images/<wnid>-<breed>/ and the official .mat lists, written as the real ones are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import yaml
from test_data_files import write_image

from deephash.data import create_dataset
from deephash.data.split import split_catalog
from deephash.errors import DeephashError

ROOT = Path(__file__).resolve().parents[1]
BREEDS = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02085936-Maltese_dog"]


def cells(strings: list[str]) -> np.ndarray:
    """An N x 1 MATLAB cell array of strings: what loadmat returns from the real lists is an object
    array whose every element is a 1-element string array."""
    array = np.empty((len(strings), 1), dtype=object)
    for i, text in enumerate(strings):
        array[i, 0] = np.array([text])
    return array


def write_list(path: Path, files: list[str], labels: list[int], drop: str = "") -> None:
    content = {
        "file_list": cells(files),
        "annotation_list": cells([f.removesuffix(".jpg") for f in files]),
        "labels": np.array(labels, dtype=np.float64).reshape(-1, 1),  # MATLAB doubles, 1-based
    }
    content.pop(drop, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, content)


@pytest.fixture
def dogs(tmp_path: Path) -> Path:
    """3 breeds x 3 images: the first two of each in train_list.mat, the third in test_list.mat."""
    parts: dict[str, tuple[list[str], list[int]]] = {"train": ([], []), "test": ([], [])}
    for label, breed in enumerate(BREEDS, start=1):
        wnid = breed.split("-")[0]
        for i in range(3):
            file = f"{breed}/{wnid}_{100 + i}.jpg"
            write_image(tmp_path / "Images" / file, 10 * label + i)
            part = parts["train" if i < 2 else "test"]
            part[0].append(file)
            part[1].append(label)
    for tag, (files, labels) in parts.items():
        write_list(tmp_path / "lists" / f"{tag}_list.mat", files, labels)
    return tmp_path


def test_fixture_has_the_real_lists_structure(dogs):
    content = scipy.io.loadmat(dogs / "lists" / "train_list.mat")
    assert content["file_list"].shape == (6, 1) and content["file_list"].dtype == object
    assert content["file_list"][0, 0].shape == (1,)
    assert str(content["file_list"][0, 0][0]) == "n02085620-Chihuahua/n02085620_100.jpg"
    assert content["labels"].dtype == np.float64 and content["labels"][:, 0].tolist() == [1, 1, 2, 2, 3, 3]


def test_official_split_and_breed_names(dogs):
    adapter = create_dataset("stanford_dogs", str(dogs))
    catalog = adapter.catalog()
    assert catalog.classes == ["Chihuahua", "Japanese_spaniel", "Maltese_dog"]
    assert catalog.extra["folders"] == BREEDS
    assert catalog.labels.argmax(1).tolist() == [0, 0, 1, 1, 2, 2, 0, 1, 2]
    assert catalog.official == ["train"] * 6 + ["test"] * 3
    assert catalog.sources[6] == "n02085620-Chihuahua/n02085620_102.jpg"
    assert next(adapter.read(catalog.sources[:1])).shape == (10, 12, 3)
    split = split_catalog(catalog, "official", seed=0)
    assert split.counts() == {"train": 6, "query": 3, "database": 6}


def test_lists_beside_images_are_found(dogs):
    for name in ("train_list.mat", "test_list.mat"):
        (dogs / "lists" / name).rename(dogs / name)
    assert len(create_dataset("stanford_dogs", str(dogs)).catalog()) == 9


def test_list_without_its_field_is_named(dogs):
    files = ["n02085620-Chihuahua/n02085620_102.jpg"]
    write_list(dogs / "lists" / "test_list.mat", files, [1], drop="labels")
    with pytest.raises(DeephashError, match=r"test_list\.mat: no 'labels' variable in the \.mat file \(found: "):
        create_dataset("stanford_dogs", str(dogs)).catalog()


def test_listed_image_missing_on_disk_is_named(dogs):
    (dogs / "Images" / "n02085936-Maltese_dog" / "n02085936_102.jpg").unlink()
    with pytest.raises(DeephashError, match=r"test_list\.mat: listed image 'n02085936-Maltese_dog/n02085936_102\.jpg'"):
        create_dataset("stanford_dogs", str(dogs)).catalog()


@pytest.mark.parametrize(
    ("files", "labels", "message"),
    [
        (["../escape.jpg"], [1], r"test_list\.mat: path '\.\./escape\.jpg' resolves outside"),
        (["n02085620-Chihuahua/n02085620_102.jpg"], [0], r"test_list\.mat: labels entry 1: 0\.0 is not a class"),
        (["n02085620-Chihuahua/n02085620_102.jpg"], [2], r"label 2 is on images of 'n02085782-Japanese_spaniel'"),
        (["n02085620_102.jpg"], [1], r"test_list\.mat: entry 1: 'n02085620_102\.jpg' is not in a breed folder"),
    ],
)
def test_bad_list_entries_are_named(dogs, files, labels, message):
    write_list(dogs / "lists" / "test_list.mat", files, labels)
    with pytest.raises(DeephashError, match=message):
        create_dataset("stanford_dogs", str(dogs)).catalog()


def test_split_stage_exits_2_with_one_line(dogs, tmp_path):
    write_list(dogs / "lists" / "train_list.mat", ["n02085620-Chihuahua/n02085620_100.jpg"], [1], drop="file_list")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"] = {"name": "stanford_dogs", "root": str(dogs)}
    params["split"]["protocol"] = "official"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "split.py"), "--params", "params.yaml", "--out", "split"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "train_list.mat" in lines[0] and "'file_list'" in lines[0]
    assert not (tmp_path / "split").exists()

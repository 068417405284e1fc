"""Stanford Cars in its three layouts, with real .mat files written by scipy.io.savemat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from test_data_files import write_image

from deephash.data import create_dataset
from deephash.data.split import split_catalog
from deephash.errors import DeephashError

NAMES = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Audi R8 Coupe 2012"]
FIELDS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")


def struct_array(rows: list[dict[str, object]], fields: tuple[str, ...]) -> np.ndarray:
    """A 1 x N MATLAB struct array, as the devkit stores its annotations."""
    array = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for f in fields:
            array[0, i][f] = row[f]
    return array


def annotations(folder: Path, classes: list[int], fields: tuple[str, ...] = FIELDS) -> np.ndarray:
    rows = []
    for i, c in enumerate(classes):
        fname = f"{i + 1:05d}.jpg"
        write_image(folder / fname, i + 10 * c)
        rows.append({"bbox_x1": 1, "bbox_y1": 1, "bbox_x2": 9, "bbox_y2": 9, "class": c, "fname": fname})
    return struct_array(rows, fields)


@pytest.fixture
def devkit(tmp_path: Path) -> Path:
    base = tmp_path / "stanford_cars"
    (base / "devkit").mkdir(parents=True)
    scipy.io.savemat(base / "devkit" / "cars_meta.mat", {"class_names": np.array([NAMES], dtype=object)})
    train = annotations(base / "cars_train", [1, 2, 3, 1, 2, 3])
    scipy.io.savemat(base / "devkit" / "cars_train_annos.mat", {"annotations": train})
    test = annotations(base / "cars_test", [3, 2, 1])
    scipy.io.savemat(base / "cars_test_annos_withlabels.mat", {"annotations": test})
    return tmp_path


def test_devkit_layout(devkit):
    adapter = create_dataset("stanford_cars", str(devkit))
    catalog = adapter.catalog()
    assert catalog.classes == NAMES
    assert catalog.ids[:2] == ["train/00001.jpg", "train/00002.jpg"] and catalog.ids[6] == "test/00001.jpg"
    assert catalog.sources[6] == "cars_test/00001.jpg"  # train and test file names overlap; sources do not
    assert catalog.labels.argmax(1).tolist() == [0, 1, 2, 0, 1, 2, 2, 1, 0]
    assert next(adapter.read(catalog.sources[6:7])).shape == (10, 12, 3)
    split = split_catalog(catalog, "official", seed=0)
    assert split.counts() == {"train": 6, "query": 3, "database": 6}


def test_the_devkit_fixture_is_the_layout_torchvision_reads(devkit):
    from torchvision.datasets import StanfordCars

    ours = create_dataset("stanford_cars", str(devkit)).catalog()
    theirs = StanfordCars(str(devkit), split="test", download=False)
    assert [t for _, t in theirs._samples] == ours.labels[6:].argmax(1).tolist()
    assert theirs.classes == ours.classes


def test_all_in_one_annos_layout(tmp_path):
    rows = []
    for i, (c, test) in enumerate([(1, 0), (2, 0), (3, 0), (1, 1), (2, 1), (3, 1)]):
        write_image(tmp_path / "car_ims" / f"{i + 1:06d}.jpg", i)
        rows.append({"relative_im_path": f"car_ims/{i + 1:06d}.jpg", "class": c, "test": test})
    annos = struct_array(rows, ("relative_im_path", "class", "test"))
    scipy.io.savemat(
        tmp_path / "cars_annos.mat", {"annotations": annos, "class_names": np.array([NAMES], dtype=object)}
    )
    catalog = create_dataset("stanford_cars", str(tmp_path)).catalog()
    assert catalog.ids[0] == "car_ims/000001.jpg" and catalog.official == ["train"] * 3 + ["test"] * 3
    assert catalog.labels.argmax(1).tolist() == [0, 1, 2, 0, 1, 2]


def test_class_folder_repack(tmp_path):
    for part in ("train", "test"):
        for name in NAMES:
            write_image(tmp_path / part / name / "x.jpg")
    catalog = create_dataset("stanford_cars", str(tmp_path), layout="folders").catalog()
    assert catalog.classes == NAMES and catalog.official.count("test") == 3


def test_mat_without_the_expected_field_is_named(devkit):
    base = devkit / "stanford_cars"
    test = annotations(base / "cars_test", [3, 2, 1], fields=("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "fname"))
    scipy.io.savemat(base / "cars_test_annos_withlabels.mat", {"annotations": test})
    with pytest.raises(DeephashError, match=r"cars_test_annos_withlabels\.mat: 'annotations' has no field 'class'"):
        create_dataset("stanford_cars", str(devkit)).catalog()


def test_mat_without_the_expected_variable_is_named(devkit):
    scipy.io.savemat(devkit / "stanford_cars" / "devkit" / "cars_meta.mat", {"names": np.array([NAMES], dtype=object)})
    with pytest.raises(DeephashError, match=r"cars_meta\.mat: no 'class_names' variable in the \.mat file"):
        create_dataset("stanford_cars", str(devkit)).catalog()


def test_listed_image_missing_names_the_annotation_file(devkit):
    (devkit / "stanford_cars" / "cars_train" / "00004.jpg").unlink()
    with pytest.raises(DeephashError, match=r"cars_train_annos\.mat: listed image 'cars_train/00004\.jpg' not found"):
        create_dataset("stanford_cars", str(devkit)).catalog()


def test_no_known_layout(tmp_path):
    with pytest.raises(DeephashError, match=r"no Stanford Cars layout found; expected one of: devkit"):
        create_dataset("stanford_cars", str(tmp_path)).catalog()

"""FGVC-Aircraft and Food-101 through torchvision's own classes, on fixtures in the layout they check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_data_files import write_image, write_lines

from deephash.data import create_dataset
from deephash.data.split import split_catalog
from deephash.errors import DeephashError

VARIANTS = ["707-320", "A300B4", "Boeing 717"]


@pytest.fixture
def aircraft(tmp_path: Path) -> Path:
    data = tmp_path / "fgvc-aircraft-2013b" / "data"
    write_lines(data / "variants.txt", VARIANTS)
    parts = {"trainval": ["0034309", "0034958", "0037511", "0041211"], "test": ["1025794", "1340192"]}
    for part, ids in parts.items():
        write_lines(data / f"images_variant_{part}.txt", [f"{i} {VARIANTS[n % 3]}" for n, i in enumerate(ids)])
        for n, i in enumerate(ids):
            write_image(data / "images" / f"{i}.jpg", n)
    return tmp_path


def test_aircraft_official_split(aircraft):
    adapter = create_dataset("aircraft", str(aircraft))
    catalog = adapter.catalog()
    assert catalog.classes == VARIANTS
    assert catalog.ids == ["0034309", "0034958", "0037511", "0041211", "1025794", "1340192"]
    assert catalog.labels.argmax(1).tolist() == [0, 1, 2, 0, 0, 1]
    assert catalog.sources[0] == "fgvc-aircraft-2013b/data/images/0034309.jpg"
    assert next(adapter.read(catalog.sources[:1])).shape == (10, 12, 3)
    assert split_catalog(catalog, "official", seed=0).counts() == {"train": 4, "query": 2, "database": 4}


def test_aircraft_unknown_variant_names_the_line(aircraft):
    write_lines(aircraft / "fgvc-aircraft-2013b/data/images_variant_test.txt", ["1025794 707-320", "1340192 Spitfire"])
    with pytest.raises(DeephashError, match=r"images_variant_test\.txt:2: label 'Spitfire' is not a known class"):
        create_dataset("aircraft", str(aircraft)).catalog()


def test_aircraft_path_outside_the_root_names_the_line(aircraft):
    write_lines(
        aircraft / "fgvc-aircraft-2013b/data/images_variant_test.txt", ["1025794 707-320", "../../../../x A300B4"]
    )
    with pytest.raises(DeephashError, match=r"images_variant_test\.txt:2: path '\.\./x\.jpg' resolves outside"):
        create_dataset("aircraft", str(aircraft)).catalog()


def test_aircraft_missing_image_names_the_line(aircraft):
    (aircraft / "fgvc-aircraft-2013b/data/images/0037511.jpg").unlink()
    with pytest.raises(DeephashError, match=r"images_variant_trainval\.txt:3: listed image .*0037511\.jpg' not found"):
        create_dataset("aircraft", str(aircraft)).catalog()


def test_aircraft_missing_files_name_the_layout(tmp_path):
    with pytest.raises(DeephashError, match=r"variants\.txt: not found; expected this layout: root/fgvc-aircraft"):
        create_dataset("aircraft", str(tmp_path)).catalog()
    with pytest.raises(DeephashError, match=r"nowhere: dataset root does not exist; expected this layout"):
        create_dataset("food101", str(tmp_path / "nowhere")).catalog()


@pytest.fixture
def food(tmp_path: Path) -> Path:
    base = tmp_path / "food-101"
    meta = {"train": {"apple_pie": ["apple_pie/1", "apple_pie/2"], "ramen": ["ramen/3", "ramen/4"]}}
    meta["test"] = {"apple_pie": ["apple_pie/5"], "ramen": ["ramen/6"]}
    for part, classes in meta.items():
        (base / "meta").mkdir(parents=True, exist_ok=True)
        (base / "meta" / f"{part}.json").write_text(json.dumps(classes))
        for n, name in enumerate(name for names in classes.values() for name in names):
            write_image(base / "images" / f"{name}.jpg", n)
    return tmp_path


def test_food101_official_split(food):
    catalog = create_dataset("food101", str(food)).catalog()
    assert catalog.classes == ["apple_pie", "ramen"]
    assert catalog.ids == ["apple_pie/1", "apple_pie/2", "ramen/3", "ramen/4", "apple_pie/5", "ramen/6"]
    assert catalog.official == ["train"] * 4 + ["test"] * 2
    assert split_catalog(catalog, "official", seed=0).counts() == {"train": 4, "query": 2, "database": 4}


def test_food101_broken_json_names_the_line(food):
    (food / "food-101/meta/test.json").write_text('{"apple_pie": ["apple_pie/5"],\n "ramen": ["ramen/6"\n}')
    with pytest.raises(DeephashError, match=r"test\.json:3: cannot parse"):
        create_dataset("food101", str(food)).catalog()

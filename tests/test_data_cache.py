"""Decoding once: the cache, its worker processes, and the split and cache stages on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_stage_in_process
from test_data_files import write_image, write_lines

from deephash.data import create_dataset
from deephash.data.cache import build_cache, load_cache, parse_size
from deephash.data.images import decode_image
from deephash.errors import DeephashError

ROOT = Path(__file__).resolve().parents[1]


def test_jpeg_is_decoded_at_a_reduced_scale_that_still_covers_the_size(tmp_path):
    write_image(tmp_path / "big.jpg", size=(400, 300))
    assert decode_image(tmp_path / "big.jpg").shape == (300, 400, 3)
    small = decode_image(tmp_path / "big.jpg", size=64)
    assert 64 <= min(small.shape[:2]) < 300 and small.shape[2] == 3


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for c in ("a", "b"):
        for i in range(70):
            write_image(root / c / f"{i}.jpg", i, size=(20 + i % 7, 18))
    return root


def test_workers_give_the_same_cache_byte_for_byte(folder, tmp_path):
    adapter = create_dataset("imagefolder", str(folder))
    catalog = adapter.catalog()
    shape = build_cache(adapter, catalog, tmp_path / "one.npy", 16)
    assert shape == (140, 16, 16, 3)
    build_cache(adapter, catalog, tmp_path / "two.npy", 16, workers=2)
    assert (tmp_path / "one.npy").read_bytes() == (tmp_path / "two.npy").read_bytes()
    expected = decode_image(folder / catalog.sources[9], 16)
    assert load_cache(tmp_path / "one.npy")[9].shape == (16, 16, 3) and expected.shape[0] >= 16


def test_a_rectangular_size_upscales_digit_pairs_by_four_without_cropping(tmp_path):
    adapter = create_dataset("digit-pairs", per_class=4, query_per_class=1)
    catalog = adapter.catalog().subset(np.arange(3))
    assert build_cache(adapter, catalog, tmp_path / "native.npy", 0) == (3, 8, 16, 1)
    assert build_cache(adapter, catalog, tmp_path / "big.npy", (32, 64)) == (3, 32, 64, 1)
    native, big = load_cache(tmp_path / "native.npy"), load_cache(tmp_path / "big.npy")
    # bilinear x4: each half of the upscaled image is its own digit, the mean brightness is kept
    for half in (slice(0, 8), slice(8, 16)):
        wide = slice(half.start * 4, half.stop * 4)
        assert abs(float(big[:, :, wide].mean()) - float(native[:, :, half].mean())) < 4.0
    assert build_cache(adapter, catalog, tmp_path / "square.npy", 32) == (3, 32, 32, 1)  # square crops


@pytest.mark.parametrize("bad", [-1, [32], [32, 0], [32, 64, 3], "32", True, [32.0, 64]])
def test_a_bad_cache_size_names_the_key(bad):
    with pytest.raises(DeephashError, match=r"cache\.size: expected"):
        parse_size(bad)


def test_a_bad_image_in_a_worker_is_reported_in_list_order_and_nothing_is_written(folder, tmp_path):
    adapter = create_dataset("imagefolder", str(folder))
    catalog = adapter.catalog()
    for i in (130, 100):
        (folder / catalog.sources[i]).write_bytes(b"\xff\xd8\xff broken")
    with pytest.raises(DeephashError, match=rf"{catalog.sources[100]}: unreadable or truncated image"):
        build_cache(adapter, catalog, tmp_path / "c.npy", 16, workers=2)
    assert not list(tmp_path.glob("*c.npy*"))


def run_stage(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / script), *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A params file for the `list` adapter over 3 classes of real JPEGs."""
    data = tmp_path / "lists"
    lines = []
    for i in range(24):
        write_image(data / "img" / f"{i}.jpg", i, size=(30, 24))
        lines.append(f"img/{i}.jpg " + " ".join("1" if c == i % 3 else "0" for c in range(3)))
    write_lines(data / "all.txt", lines)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"] = {"name": "list", "root": str(data), "list": {"lists": "all.txt"}}
    params["split"] = {"protocol": "per_class", "seed": 0, "query": 2, "train": 4, "database": "rest"}
    params["split"]["train_in_database"] = True
    params["cache"] = {"size": 16}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_split_and_cache_stages_on_a_list(project):
    out = run_stage("split.py", project)
    assert out.returncode == 0, out.stderr
    assert "split list by per_class (seed 0): train 12, query 6, database 18" in out.stdout
    assert json.loads((project / "metrics/split.json").read_text())["database"] == 18
    meta = json.loads((project / "data/split/classes.json").read_text())
    assert meta["classes"] == ["0", "1", "2"] and meta["split"]["seed"] == 0
    out = run_stage("cache.py", project)
    assert out.returncode == 0, out.stderr
    assert np.load(project / "data/cache/query.npy").shape == (6, 16, 16, 3)


def test_bad_image_stops_the_cache_stage_and_writes_nothing(project):
    assert run_stage("split.py", project).returncode == 0
    query = (project / "data/split/query.tsv").read_text().splitlines()[1].split("\t")[1]
    (project / "lists" / query).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = run_stage("cache.py", project)
    last = out.stderr.strip().splitlines()[-1]  # after the progress bars, one line
    assert out.returncode == 2 and last.startswith("deephash: ") and f"{query}: unreadable or truncated image" in last
    assert not (project / "data/cache").exists()


def test_bad_list_stops_the_split_stage_and_writes_nothing(project):
    with (project / "lists" / "all.txt").open("a") as f:
        f.write("img/missing.jpg 1 0 0\n")
    out = run_stage("split.py", project)
    assert out.returncode == 2
    expected = f"all.txt:25: listed image 'img/missing.jpg' not found under {project / 'lists'}"
    assert out.stderr.startswith("deephash: ") and out.stderr.strip().endswith(expected)
    assert not (project / "data").exists() and not (project / "metrics").exists()


def test_skip_leaves_unreadable_images_out_and_lists_them(project, monkeypatch, capsys):
    from deephash.data.arrays import load_arrays
    from deephash.data.cache import kept_catalog
    from deephash.data.split import read_split

    assert run_stage_in_process("split.py", project, monkeypatch) == 0
    split = read_split(project / "data/split")
    bad = split.query.sources[1]
    (project / "lists" / bad).write_bytes(b"not an image")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["cache"]["on_bad_image"] = "skip"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    capsys.readouterr()
    assert run_stage_in_process("cache.py", project, monkeypatch) == 0
    assert "deephash: warning: skipped 1 unreadable images (listed in data/bad_images.txt)" in capsys.readouterr().err
    (line,) = (project / "data/bad_images.txt").read_text().splitlines()
    assert line.startswith(f"query\t{bad}: ") and "unreadable or truncated image" in line
    kept = kept_catalog(split.query, project / "data/cache", "query")
    assert bad not in kept.sources and len(kept) == len(split.query) - 1
    data = load_arrays(project / "data/cache", split.query, "query")
    assert len(data) == len(kept) and (data.labels == kept.labels).all()
    assert kept_catalog(split.train, project / "data/cache", "train").sources == split.train.sources


def test_fail_names_the_first_unreadable_image(project, monkeypatch, capsys):
    assert run_stage_in_process("split.py", project, monkeypatch) == 0
    bad = (project / "data/split/train.tsv").read_text().splitlines()[1].split("\t")[1]
    (project / "lists" / bad).write_bytes(b"")
    capsys.readouterr()
    assert run_stage_in_process("cache.py", project, monkeypatch) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("deephash: ") and f"{bad}: unreadable or truncated image" in last
    assert not (project / "data/cache").exists() and not (project / "data/bad_images.txt").exists()

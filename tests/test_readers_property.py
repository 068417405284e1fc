"""Fuzzing the readers of user files: random bytes and random structures give either a valid result
or the one-line DeephashError naming the file, never another exception. (The params validator's
random values and YAML token soups are in test_params.py; here the loader gets raw bytes.)"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_data_files import write_image

from deephash.centers import read_similarity
from deephash.codes import read_codes
from deephash.data import create_dataset
from deephash.errors import DeephashError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
import common

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def clear(exc: DeephashError, path: Path) -> None:
    assert "\n" not in str(exc) and str(exc).startswith(str(path)), str(exc)


# --- list files ----------------------------------------------------------------------------------

LIST_LINES = st.one_of(
    st.sampled_from(["img/0.jpg 1 0", "img/1.jpg 0 1", "img/2.jpg 1 1", "img/0.jpg 0 1", "../x.jpg 1 0", "/abs 1 0"]),
    st.sampled_from(["img/1.jpg 1", "img/2.jpg 2 0", "img/9.jpg 1 0", "img/1.jpg 0 0", "", "   ", "\ufeff"]),
    st.text(max_size=12).map(lambda t: t.replace("\n", " ")),
).map(str.encode)
LIST_BYTES = st.one_of(st.lists(st.one_of(LIST_LINES, st.binary(max_size=12)), max_size=8).map(b"\n".join), st.binary())


@FUZZ
@given(content=LIST_BYTES)
def test_list_files(tmp_path, content):
    root = tmp_path / "data"
    if not root.exists():
        for i in range(3):
            write_image(root / "img" / f"{i}.jpg", i)
    path = root / "all.txt"
    path.write_bytes(content)
    try:
        catalog = create_dataset("list", str(root), lists="all.txt").catalog()
    except DeephashError as exc:
        clear(exc, path)
    else:
        assert len(catalog) >= 1 and catalog.labels.shape == (len(catalog), len(catalog.classes))
        assert set(np.unique(catalog.labels)) <= {0, 1}


# --- HDF5 codes files ------------------------------------------------------------------------------

ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.int64, np.float32, np.bool_, np.dtype("S3")]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
ATTRS = st.dictionaries(
    st.sampled_from(["bits", "method", "dataset"]),
    st.one_of(st.integers(-8, 64), st.sampled_from([16, 8]), st.text(max_size=3), st.floats(allow_nan=True)),
)
GROUP = st.dictionaries(st.sampled_from(["codes", "labels", "ids"]), ARRAYS)
FILES = st.fixed_dictionaries(
    {"attrs": ATTRS, "groups": st.dictionaries(st.sampled_from(["query", "database"]), st.one_of(GROUP, st.none()))}
)


def valid_group(rows: int) -> dict[str, np.ndarray]:
    return {
        "codes": np.zeros((rows, 2), np.uint8),
        "labels": np.eye(2, dtype=np.uint8)[np.arange(rows) % 2],
        "ids": np.array([f"{i}".encode() for i in range(rows)]),
    }


@FUZZ
@given(structure=FILES, base=st.booleans(), raw=st.one_of(st.none(), st.binary(max_size=64)))
def test_hdf5_codes_files(tmp_path, structure, base, raw):
    path = tmp_path / "codes.h5"
    if raw is not None:
        path.write_bytes(raw)
    else:
        with h5py.File(path, "w") as f:
            attrs = {"bits": 16, "method": "m", "dataset": "d"} if base else {}
            f.attrs.update({**attrs, **structure["attrs"]})
            groups = {"query": valid_group(2), "database": valid_group(3)} if base else {}
            for name, content in {**groups, **structure["groups"]}.items():
                if content is None:  # a dataset where a group belongs
                    f[name] = np.zeros(3)
                    continue
                group = f.create_group(name)
                for key, value in {**groups.get(name, {}), **content}.items():
                    group[key] = value
    try:
        codes = read_codes(path)
    except DeephashError as exc:
        clear(exc, path)
    else:
        assert codes.bits % 8 == 0 and len(codes.query) >= 1 and len(codes.database) >= 1
        assert codes.query.codes.shape[1] * 8 == codes.bits


# --- similarity matrices -----------------------------------------------------------------------------

MATRICES = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int8, np.bool_, np.complex64, np.dtype("U2")]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)


@FUZZ
@given(matrix=st.one_of(MATRICES, st.binary(max_size=64)), classes=st.one_of(st.none(), st.integers(1, 4)))
def test_similarity_matrices(tmp_path, matrix, classes):
    path = tmp_path / "S.npy"
    if isinstance(matrix, bytes):
        path.write_bytes(b"\x93NUMPY" + matrix if len(matrix) % 2 else matrix)
    else:
        np.save(path, matrix)
    try:
        s = read_similarity(path, classes)
    except DeephashError as exc:
        clear(exc, path)
    else:
        assert s.ndim == 2 and s.shape[0] == s.shape[1] >= 1 and np.isfinite(s).all()
        assert classes is None or s.shape[0] == classes


# --- params files as raw bytes -----------------------------------------------------------------------


@FUZZ
@given(content=st.one_of(st.binary(max_size=64), st.text(max_size=40).map(lambda t: t.encode("utf-16"))))
def test_params_bytes(tmp_path, content):
    path = tmp_path / "params.yaml"
    path.write_bytes(content)
    try:
        common.load_params(path)
    except DeephashError as exc:
        clear(exc, path)

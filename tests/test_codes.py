import h5py
import numpy as np
import pytest

from deephash.codes import (
    CodeSet,
    CodesFile,
    pack_codes,
    read_codes,
    stream_codes,
    substitute_codes,
    unpack_codes,
    write_codes,
)
from deephash.errors import DeephashError


@pytest.mark.parametrize("bits", [8, 16, 24, 64, 128])
def test_pack_round_trip(rng, bits):
    signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(17, bits))
    packed = pack_codes(signs)
    assert packed.dtype == np.uint8 and packed.shape == (17, bits // 8)
    assert np.array_equal(unpack_codes(packed, bits), signs)


def test_pack_matches_numpy_packbits_order():
    signs = np.array([[1, -1, -1, -1, -1, -1, -1, 1]])
    assert pack_codes(signs)[0, 0] == 0b10000001


def test_pack_rejects_partial_bytes():
    with pytest.raises(DeephashError):
        pack_codes(np.ones((2, 12)))


def sample_file(rng, bits=16):
    def part(n):
        return CodeSet(
            codes=pack_codes(rng.choice([-1, 1], size=(n, bits))),
            labels=rng.integers(0, 2, size=(n, 5)).astype(np.uint8),
            ids=[f"img-{i}-ü" for i in range(n)],
        )

    return CodesFile(query=part(3), database=part(7), bits=bits, method="shc", dataset="digits")


def test_hdf5_round_trip_and_layout(tmp_path, rng):
    path = tmp_path / "c.h5"
    original = sample_file(rng)
    write_codes(path, original)
    back = read_codes(path)
    assert back.bits == 16 and back.method == "shc" and back.dataset == "digits"
    assert np.array_equal(back.database.codes, original.database.codes)
    assert back.query.ids == original.query.ids
    with h5py.File(path) as f:
        assert f["query/codes"].dtype == np.uint8 and f["query/codes"].shape == (3, 2)
        assert f["database/labels"].shape == (7, 5)


def test_same_codes_give_identical_bytes(tmp_path, rng):
    data = sample_file(rng)
    write_codes(tmp_path / "a.h5", data)
    write_codes(tmp_path / "b.h5", data)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


def test_missing_dataset_is_named(tmp_path, rng):
    path = tmp_path / "c.h5"
    write_codes(path, sample_file(rng))
    with h5py.File(path, "a") as f:
        del f["database/ids"]
    with pytest.raises(DeephashError, match="/database/ids") as err:
        read_codes(path)
    assert str(path) in str(err.value)


def test_wrong_width_is_named(tmp_path, rng):
    path = tmp_path / "c.h5"
    write_codes(path, sample_file(rng))
    with h5py.File(path, "a") as f:
        f.attrs["bits"] = 32
    with pytest.raises(DeephashError, match="32 bits"):
        read_codes(path)


def test_substitute_codes():
    packed = np.zeros((3, 1), dtype=np.uint8)
    out = substitute_codes(packed, ["a", "b", "c"], np.array([[7], [9]], dtype=np.uint8), ["c", "x"])
    assert out[:, 0].tolist() == [0, 0, 7]


def slices(part: CodeSet, calls: list[tuple[int, int]]):
    def produce(start: int, stop: int) -> CodeSet:
        calls.append((start, stop))
        return CodeSet(part.codes[start:stop], part.labels[start:stop], part.ids[start:stop])

    return len(part), produce


def test_streamed_codes_are_written_slice_by_slice(tmp_path, rng):
    data = sample_file(rng)
    calls: list[tuple[int, int]] = []
    parts = {"query": slices(data.query, calls), "database": slices(data.database, calls)}
    stream_codes(tmp_path / "s.h5", parts, data.bits, data.method, data.dataset, rows=3)
    assert calls == [(0, 3), (0, 3), (3, 6), (6, 7)]  # never more than `rows` codes asked for at once
    back = read_codes(tmp_path / "s.h5")
    for name in ("query", "database"):
        assert np.array_equal(getattr(back, name).codes, getattr(data, name).codes)
        assert np.array_equal(getattr(back, name).labels, getattr(data, name).labels)
        assert getattr(back, name).ids == getattr(data, name).ids
    stream_codes(tmp_path / "t.h5", parts, data.bits, data.method, data.dataset, rows=3)
    assert (tmp_path / "s.h5").read_bytes() == (tmp_path / "t.h5").read_bytes()
    stream_codes(tmp_path / "one.h5", parts, data.bits, data.method, data.dataset, rows=100)
    write_codes(tmp_path / "whole.h5", data)
    assert (tmp_path / "one.h5").read_bytes() == (tmp_path / "whole.h5").read_bytes()  # one slice: the old bytes


def test_streamed_codes_short_or_failing_leave_no_file(tmp_path, rng):
    data = sample_file(rng)
    size, produce = slices(data.database, [])
    short = {"query": slices(data.query, []), "database": (size + 1, produce)}
    with pytest.raises(DeephashError, match="'database' incomplete: 7 of its rows"):
        stream_codes(tmp_path / "c.h5", short, data.bits, data.method, data.dataset, rows=4)

    def failing(start: int, stop: int) -> CodeSet:
        if start:
            raise DeephashError("image cache not found")
        return produce(start, stop)

    with pytest.raises(DeephashError, match="cache not found"):
        stream_codes(tmp_path / "c.h5", {"database": (size, failing)}, data.bits, data.method, data.dataset, rows=4)
    assert list(tmp_path.iterdir()) == []


def test_a_write_failing_half_way_keeps_the_previous_codes(tmp_path, rng):
    """The second slice fails after the first was written: the earlier codes file is untouched."""
    data = sample_file(rng)
    write_codes(tmp_path / "c.h5", data)
    previous = (tmp_path / "c.h5").read_bytes()
    size, produce = slices(data.database, [])
    written: list[int] = []

    def failing(start: int, stop: int) -> CodeSet:
        written.append(start)
        if start:
            raise OSError("input/output error")
        return produce(start, stop)

    parts = {"query": slices(data.query, []), "database": (size, failing)}
    with pytest.raises(OSError, match="input/output"):
        stream_codes(tmp_path / "c.h5", parts, data.bits, data.method, data.dataset, rows=4)
    assert written == [0, 4]  # it failed half way, not before writing
    assert (tmp_path / "c.h5").read_bytes() == previous
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5"]


def test_a_full_disk_keeps_the_previous_codes(tiny_filesystem, rng):
    small = sample_file(rng)
    write_codes(tiny_filesystem / "c.h5", small)
    previous = (tiny_filesystem / "c.h5").read_bytes()
    n = 40_000  # ~1 MiB of codes, labels and ids: more than the filesystem holds
    big = CodeSet(rng.integers(0, 256, (n, 2), dtype=np.uint8), np.ones((n, 1), np.uint8), [f"i{i}" for i in range(n)])
    with pytest.raises(DeephashError, match=r"c\.h5: no space left on the device \(nothing was replaced"):
        write_codes(tiny_filesystem / "c.h5", CodesFile(big, big, 16, "shc", "test"))
    assert (tiny_filesystem / "c.h5").read_bytes() == previous
    assert [p.name for p in tiny_filesystem.iterdir()] == ["c.h5"]

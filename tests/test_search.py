"""Exact search: top-k and radius against brute force on tied codes; streamed, saved and bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_metrics_property import BITS, tied_codes

from deephash import search, search_kernels
from deephash.codes import CodeSet, CodesFile, write_codes
from deephash.errors import DeephashError
from deephash.search import CodeStream, HammingIndex, top_k, within


def brute_distances(queries: np.ndarray, database: np.ndarray) -> np.ndarray:
    return np.bitwise_count(queries[:, None, :] ^ database[None]).sum(-1)


def assert_top_k(result, dist: np.ndarray, k: int) -> None:
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(result.indices, order)
    np.testing.assert_array_equal(result.distances, np.take_along_axis(dist, order, axis=1))


def assert_within(result, dist: np.ndarray, radius: int) -> None:
    for q in range(len(dist)):
        want = np.flatnonzero(dist[q] <= radius)
        want = want[np.argsort(dist[q, want], kind="stable")]
        got_dist, got_index = result.row(q)
        np.testing.assert_array_equal(got_index, want)
        np.testing.assert_array_equal(got_dist, dist[q, want])


def codes_file(path, database: np.ndarray, bits: int, queries: np.ndarray | None = None) -> None:
    def part(codes: np.ndarray) -> CodeSet:
        return CodeSet(codes, np.ones((len(codes), 1), np.uint8), [f"i{i}" for i in range(len(codes))])

    query = queries if queries is not None else database[:1]
    write_codes(path, CodesFile(part(query), part(database), bits, "shc", "test"))


@st.composite
def databases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    bits = draw(st.sampled_from(BITS))
    n = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    codes = tied_codes(rng, n + 8, bits, draw(st.integers(0, 12)))
    return codes[8:], codes[:8], bits


@settings(max_examples=40, deadline=None)
@given(databases(), st.integers(1, 320))
def test_top_k_equals_brute_force(data, k):
    database, queries, bits = data
    k = min(k, len(database))
    assert_top_k(HammingIndex(database, bits).search(queries, k), brute_distances(queries, database), k)


@settings(max_examples=40, deadline=None)
@given(databases(), st.integers(0, 20))
def test_radius_search_equals_brute_force(data, radius):
    database, queries, bits = data
    index = HammingIndex(database, bits)
    dist = brute_distances(queries, database)
    assert_within(index.range_search(queries, radius), dist, radius)  # multi-index tables where they help
    assert_within(within(search_stream_of(index), queries, radius), dist, radius)  # plain scan


def search_stream_of(index: HammingIndex) -> search.CodeSource:
    """The same codes seen as a source without multi-index tables (the scan path)."""

    class Plain:
        bits = index.bits

        def __len__(self) -> int:
            return len(index)

        def chunks(self):
            return index.chunks()

        def sample(self, size: int) -> np.ndarray:
            return index.sample(size)

    return Plain()


def test_multi_index_probes_every_key_once():
    masks, mask, flips = [], 0, 0
    while mask >= 0 and flips <= 2:
        masks.append(mask)
        mask = search_kernels._next_mask(mask, flips, 6)
        flips = int(np.bitwise_count(np.uint64(max(mask, 0))))
    assert len(masks) == len(set(masks)) == 1 + 6 + 15
    assert all(0 <= m < 64 and bin(m).count("1") <= 2 for m in masks)


def test_multi_index_on_random_codes_finds_near_duplicates(rng):
    database = rng.integers(0, 256, (5000, 8), dtype=np.uint8)
    queries = database[:50].copy()
    queries[:, 0] ^= 0b101  # distance 2 from their source row
    index = HammingIndex(database, 64)
    result = index.range_search(queries, 2)
    assert index.multi_index is not None and index.multi_index.useful(2)
    assert_within(result, brute_distances(queries, database), 2)


@settings(max_examples=15, deadline=None)
@given(databases(), st.integers(1, 50), st.integers(1, 40), st.integers(0, 4))
def test_streamed_in_chunks_equals_in_memory(tmp_path_factory, data, k, chunk_rows, radius):
    database, queries, bits = data
    k = min(k, len(database))
    path = tmp_path_factory.mktemp("stream") / "codes.h5"
    codes_file(path, database, bits)
    stream = CodeStream(path, chunk_rows=chunk_rows)
    index = HammingIndex(database, bits)
    whole, streamed = index.search(queries, k), top_k(stream, queries, k)
    np.testing.assert_array_equal(streamed.indices, whole.indices)
    np.testing.assert_array_equal(streamed.distances, whole.distances)
    ranged = within(stream, queries, radius, capacity=1)  # rows overflow and are regrown
    assert_within(ranged, brute_distances(queries, database), radius)


def test_sampled_start_and_its_fallback_stay_exact(rng, monkeypatch):
    monkeypatch.setattr(search, "SAMPLE", 64)
    database = rng.integers(0, 256, (4096, 2), dtype=np.uint8)
    queries = rng.integers(0, 256, (20, 2), dtype=np.uint8)
    assert_top_k(HammingIndex(database, 16).search(queries, 600), brute_distances(queries, database), 600)
    database = tied_codes(rng, 4096, 24, 9)  # padded to a 64-bit word; k > N / 2: no sampled guess fits
    assert_top_k(HammingIndex(database, 24).search(database[:5], 3000), brute_distances(database[:5], database), 3000)
    # A sample that sees only exact matches guesses a start of 1; the true top k needs more: rescanned.
    database = np.full((4096, 2), 255, np.uint8)
    database[:: 4096 // 64] = 0
    queries = np.zeros((3, 2), np.uint8)
    assert_top_k(HammingIndex(database, 16).search(queries, 1000), brute_distances(queries, database), 1000)


def test_save_and_load_give_the_same_answers(tmp_path, rng):
    database = tied_codes(rng, 400, 24, 10)
    queries = database[:7]
    index = HammingIndex(database, 24)
    ranged = index.range_search(queries, 1)  # builds the tables, which are saved too
    index.save(tmp_path / "index")
    loaded = HammingIndex.load(tmp_path / "index")
    assert loaded.multi_index is not None and isinstance(loaded.words, np.ndarray)
    again = loaded.range_search(queries, 1)
    np.testing.assert_array_equal(again.indices, ranged.indices)
    np.testing.assert_array_equal(again.lims, ranged.lims)
    np.testing.assert_array_equal(loaded.search(queries, 30).indices, index.search(queries, 30).indices)


def test_bad_input_is_one_line(tmp_path, rng):
    with pytest.raises(DeephashError, match="16 bits wide, the database's are 24"):
        HammingIndex(np.zeros((4, 2), np.uint8), 24)
    index = HammingIndex(np.zeros((4, 2), np.uint8), 16)
    with pytest.raises(DeephashError, match="query codes are 8 bits wide"):
        index.search(np.zeros((1, 1), np.uint8), 2)
    with pytest.raises(DeephashError, match="positive"):
        index.search(np.zeros((1, 2), np.uint8), 0)
    with pytest.warns(UserWarning, match="larger than the database"):
        assert index.search(np.zeros((1, 2), np.uint8), 10).indices.shape == (1, 4)
    path = tmp_path / "broken.h5"
    with h5py.File(path, "w") as f:
        f.attrs["bits"] = 16
        f.create_group("database")
    with pytest.raises(DeephashError, match=r"broken\.h5: missing dataset /database/codes"):
        CodeStream(path)
    with pytest.raises(DeephashError, match=r"nothing\.h5: codes file not found"):
        CodeStream(tmp_path / "nothing.h5")
    with pytest.raises(DeephashError, match=r"idx: not a saved index"):
        HammingIndex.load(tmp_path / "idx")


# --- python -m deephash search ---------------------------------------------------------------------


def test_search_command_finds_the_query_itself_first(trained, tmp_path, capsys):
    from PIL import Image

    from deephash.cli import main
    from deephash.gallery import gallery_size

    root, images = trained
    # A tiny model gives many items one code; ties rank in database order, so the query is the first
    # database item whose code it shares: here the first database item itself.
    row = 5
    Image.fromarray(images[row, :, :, 0]).save(tmp_path / "query.png")
    gallery = tmp_path / "gallery.png"
    argv = ["search", "--codes", str(root / "codes.h5"), "--cache", str(root / "cache"), "--topk", "5"]
    assert (
        main([*argv, "--model", str(root / "model"), "--image", str(tmp_path / "query.png"), "--gallery", str(gallery)])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "query query.png"
    assert lines[1].split() == ["1", f"img{row}", "0"]
    distances = [int(line.split()[2]) for line in lines[1:6]]
    assert distances == sorted(distances)
    assert Image.open(gallery).size == gallery_size(1, 6)

    assert main([*argv, "--query-id", f"img{row}", "--gallery", str(gallery)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["1", f"img{row}", "0"]

    folder = tmp_path / "queries"
    folder.mkdir()
    Image.fromarray(images[row, :, :, 0]).save(folder / "first.png")
    Image.fromarray(images[7, :, :, 0]).save(folder / "second.png")
    (folder / "notes.txt").write_text("not an image")
    assert main([*argv, "--model", str(root / "model"), "--folder", str(folder), "--gallery", str(gallery)]) == 0
    assert Image.open(gallery).size == gallery_size(2, 6)


def test_search_command_bad_input(trained, tmp_path, capsys):
    from deephash.cli import main

    root, _ = trained
    (tmp_path / "broken.png").write_bytes(b"not a png")
    base = ["search", "--codes", str(root / "codes.h5"), "--size", "8", "--gallery", str(tmp_path / "g.png")]
    assert main([*base, "--model", str(root / "model"), "--image", str(tmp_path / "broken.png")]) == 2
    assert "broken.png: unreadable or truncated image" in capsys.readouterr().err
    assert main([*base, "--model", str(tmp_path), "--image", str(tmp_path / "broken.png")]) == 2
    assert f"{tmp_path}: model directory has no config.json" in capsys.readouterr().err
    assert main([*base, "--query-id", "nope"]) == 2
    assert "codes.h5: no query or database item has the id 'nope'" in capsys.readouterr().err
    assert main([*base, "--query-id", "img3", "--topk", "100"]) == 0
    assert "note: k = 100 is larger than the database (35 codes)" in capsys.readouterr().err
    assert not (tmp_path / "g.png").with_suffix(".png.tmp").exists()


def test_evaluate_stage_gallery_has_one_row_per_query(tmp_path, rng):
    from PIL import Image

    from deephash.gallery import codes_gallery, gallery_size

    def part(n: int) -> CodeSet:
        labels = np.eye(3, dtype=np.uint8)[rng.integers(0, 3, n)]
        return CodeSet(rng.integers(0, 256, (n, 2), dtype=np.uint8), labels, [f"x{i}" for i in range(n)])

    codes = CodesFile(part(6), part(20), 16, "shc", "t")
    images = rng.integers(0, 256, (26, 8, 8, 1), dtype=np.uint8)
    codes_gallery(codes, images[:6], images[6:], 4, 5, tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").size == gallery_size(4, 6)

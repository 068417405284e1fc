"""Exact Hamming search over packed codes: top-k and radius, in memory, memory-mapped or streamed.

Top-k is exact with ties in database order (the order the mAP definition ranks by); radius search
returns every item within the radius (inclusive, unlike faiss's ``range_search``, which keeps
distances strictly below the radius it is given), sorted by (distance, index). Both run on the
compiled kernels of ``deephash.search_kernels``. A ``HammingIndex`` holds the codes in memory (or memory-
mapped after ``load``) and, for radius search, multi-index hash tables; a ``CodeStream`` reads an
HDF5 codes file chunk by chunk, so a database larger than RAM is searched in bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import h5py
import numba
import numpy as np
from tqdm import tqdm

from deephash import search_kernels as kernels
from deephash.atomic import atomic_path
from deephash.config import check_bits
from deephash.errors import DeephashError
from deephash.hamming import QUERY_BLOCK, to_words

CHUNK_ROWS = 1 << 20  # database rows per chunk read from an HDF5 file
SAMPLE = 16384  # database codes whose distances set each query's first top-k threshold
STATE_BYTES = 64 << 20  # query-state budget of one top-k pass; more queries are taken in batches
INDEX_FORMAT = 1
MAX_SUBSTRING = 24  # bits of a multi-index key: a table of 2^24 + 1 offsets (64 MiB) at most


class CodeSource(Protocol):
    """Anything that yields a database's codes as word-major chunks, in database order."""

    bits: int

    def __len__(self) -> int: ...

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]: ...

    def sample(self, size: int) -> np.ndarray: ...


@dataclass
class Neighbours:
    """Top-k: ``distances``/``indices`` are [Q, k]. Radius: rows ``lims[q]:lims[q+1]`` of flat arrays."""

    distances: np.ndarray
    indices: np.ndarray
    lims: np.ndarray | None = None

    def row(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        if self.lims is None:
            return self.distances[q], self.indices[q]
        lo, hi = self.lims[q], self.lims[q + 1]
        return self.distances[lo:hi], self.indices[lo:hi]


def check_codes(codes: np.ndarray, bits: int, what: str) -> np.ndarray:
    """Packed uint8 [N, bits/8]; anything else is an error naming ``what``."""
    codes = np.asarray(codes)
    if codes.dtype != np.uint8 or codes.ndim != 2:
        raise DeephashError(f"{what}: expected packed uint8 codes [N, {bits // 8}], got {codes.dtype} {codes.shape}")
    if codes.shape[1] * 8 != bits:
        raise DeephashError(f"{what} codes are {codes.shape[1] * 8} bits wide, the database's are {bits}")
    return np.ascontiguousarray(codes)


def clamp_k(k: int, size: int) -> int:
    """k in 1..size: larger is clamped with a warning (the whole database is then the answer)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise DeephashError(f"k must be a positive integer, got {k!r}")
    if k > size:
        warnings.warn(f"k = {k} is larger than the database ({size} codes); using k = {size}", stacklevel=3)
        return size
    return int(k)


def top_k(source: CodeSource, queries: np.ndarray, k: int) -> Neighbours:
    """The k nearest codes of every query, by (distance, database index)."""
    queries = check_codes(queries, source.bits, "query")
    if len(source) == 0:
        raise DeephashError("the database is empty: nothing to search")
    k = clamp_k(k, len(source))
    q_words = to_words(queries)
    # A sampled first threshold pays off on large databases, when about 2k codes below it make at
    # least 16 of the sample: a steady estimate. Otherwise the scan starts from bits + 1.
    steady = 2 * k * SAMPLE >= 16 * len(source)
    sample = source.sample(SAMPLE) if len(source) >= 8 * SAMPLE and steady else None
    batch = max(1, STATE_BYTES // (20 * k + 8 * (source.bits + 1)))  # bytes of one query's state
    distances = np.empty((len(queries), k), np.int32)
    indices = np.empty((len(queries), k), np.int64)
    with _one_thread_for_one_block(len(queries)):
        for lo in range(0, len(queries), batch):
            part = np.ascontiguousarray(q_words[:, lo : lo + batch])
            full = np.full(part.shape[1], source.bits + 1, np.int64)
            start = full if sample is None else kernels.topk_start(part, sample, len(source), k, 2.0, source.bits)
            found = _top_k_pass(source, part, k, start)
            missed = np.flatnonzero(found[2] == start)  # a threshold that never moved had fewer than k below it
            if len(missed):  # the sampled start was too low for these: rescan them from bits + 1
                again = _top_k_pass(source, np.ascontiguousarray(part[:, missed]), k, full[missed])
                found[0][missed], found[1][missed] = again[0], again[1]
            distances[lo : lo + batch], indices[lo : lo + batch] = found[0], found[1]
    return Neighbours(distances, indices)


@contextmanager
def _one_thread_for_one_block(queries: int) -> Iterator[None]:
    """Up to ``QUERY_BLOCK`` queries are one parallel task: waking numba's thread pool for it costs more
    than the scan (16 ms against 0.1 ms for one query over 100,000 codes on a busy 2-core machine),
    so such a call runs on the calling thread. numba's thread count is per calling thread."""
    before = numba.get_num_threads()
    if queries <= QUERY_BLOCK:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _top_k_pass(
    source: CodeSource, q_words: np.ndarray, k: int, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scan of the source: (distances, indices, final thresholds)."""
    n = q_words.shape[1]
    threshold = start.copy()
    below = np.zeros(n, np.int64)
    hist = np.zeros((n, source.bits + 1), np.int64)
    buf_dist = np.empty((n, 2 * k), np.uint16)
    buf_index = np.empty((n, 2 * k), np.int64)
    fill = np.zeros(n, np.int64)
    for offset, words in source.chunks():
        kernels.topk_scan(q_words, words, offset, k, threshold, below, hist, buf_dist, buf_index, fill)
    distances, indices = kernels.topk_finish(k, source.bits, buf_dist, buf_index, fill)
    return distances, indices, threshold


def within(source: CodeSource, queries: np.ndarray, radius: int, capacity: int = 64) -> Neighbours:
    """Every code within Hamming distance ``radius`` (inclusive) of each query, by (distance, index)."""
    queries = check_codes(queries, source.bits, "query")
    if radius < 0:
        raise DeephashError(f"radius must be >= 0, got {radius}")
    q_words = to_words(queries)
    if isinstance(source, HammingIndex) and (tables := source.tables(radius)) is not None:
        keys = _mih(source, q_words, radius, tables, capacity)
    else:
        keys = _scan_within(source, q_words, radius, capacity)
    counts = np.array([len(row) for row in keys], np.int64)
    lims = np.concatenate([[0], np.cumsum(counts)])
    flat = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    return Neighbours(
        distances=(flat >> kernels.KEY_SHIFT).astype(np.int32),
        indices=flat & ((1 << kernels.KEY_SHIFT) - 1),
        lims=lims,
    )


def _scan_within(source: CodeSource, q_words: np.ndarray, radius: int, capacity: int) -> list[np.ndarray]:
    """Radius search by scanning; a row that overflows grows and the chunk is rerun for those queries."""
    n = q_words.shape[1]
    count = np.zeros(n, np.int64)
    out = np.empty((n, capacity), np.int64)
    for offset, words in source.chunks():
        before = count.copy()
        kernels.radius_scan(q_words, words, offset, radius, count, out)
        over = np.flatnonzero(count > out.shape[1])
        if len(over):
            grown = np.empty((n, 2 * int(count.max())), np.int64)
            grown[:, : out.shape[1]] = out
            out = grown
            redo_count = before[over].copy()
            redo_out = np.ascontiguousarray(out[over])
            kernels.radius_scan(np.ascontiguousarray(q_words[:, over]), words, offset, radius, redo_count, redo_out)
            count[over], out[over] = redo_count, redo_out
    return [np.sort(out[q, : count[q]]) for q in range(n)]


def _mih(index: HammingIndex, q_words: np.ndarray, radius: int, tables: MultiIndex, capacity: int) -> list[np.ndarray]:
    """Radius search through the tables; queries with more than ``capacity`` results are rerun with
    room, and those whose buckets are too full to pay off are scanned."""
    n = q_words.shape[1]
    count = np.zeros(n, np.int64)
    out = np.empty((n, capacity), np.int64)
    kernels.mih_search(q_words, index.words, radius, tables.bounds, tables.starts, tables.members, count, out)
    rows = [out[q, : count[q]] for q in range(n)]
    over = np.flatnonzero(count > capacity)
    if len(over):
        redo_count = np.zeros(len(over), np.int64)
        redo_out = np.empty((len(over), int(count.max())), np.int64)
        sub = np.ascontiguousarray(q_words[:, over])
        kernels.mih_search(sub, index.words, radius, tables.bounds, tables.starts, tables.members, redo_count, redo_out)
        for i, q in enumerate(over):
            rows[q] = redo_out[i, : redo_count[i]]
    crowded = np.flatnonzero(count < 0)
    if len(crowded):
        for q, row in zip(
            crowded, _scan_within(index, np.ascontiguousarray(q_words[:, crowded]), radius, capacity), strict=True
        ):
            rows[q] = row
    return rows


@dataclass
class MultiIndex:
    """Multi-index hash tables: substring t covers bits ``bounds[t, 0] + [0, bounds[t, 1])``; the items whose
    substring equals key are ``members[t, starts[t, key]:starts[t, key + 1]]``, in database order."""

    bounds: np.ndarray  # int64 [m, 2]
    starts: np.ndarray  # uint32 [m, 2^max_length + 1]
    members: np.ndarray  # uint32 [m, N]

    @classmethod
    def build(cls, words: np.ndarray, bits: int) -> MultiIndex:
        """As few substrings as keep them at least log2(N) bits long (at most 24): buckets of at most
        about one code, and m = 3 tables at 64 bits for a million codes, so radius 2 probes 3 keys."""
        n = words.shape[1]
        if n >= 1 << 32:
            raise DeephashError(f"multi-index tables hold at most 2^32 codes, not {n}")
        target = min(MAX_SUBSTRING, max(8, math.ceil(math.log2(max(n, 2)))))
        m = max(1, bits // target, -(-bits // MAX_SUBSTRING))
        lengths = [bits // m + (1 if t < bits % m else 0) for t in range(m)]
        bounds = np.array([[sum(lengths[:t]), lengths[t]] for t in range(m)], np.int64)
        starts = np.full((m, (1 << max(lengths)) + 1), n, np.uint32)
        members = np.empty((m, n), np.uint32)
        for t, (lo, size) in enumerate(bounds):
            keys = kernels.substring_keys(words, int(lo), int(size))
            members[t] = np.argsort(keys, kind="stable")
            starts[t, 0] = 0
            starts[t, 1 : (1 << size) + 1] = np.cumsum(np.bincount(keys, minlength=1 << size))
        return cls(bounds, starts, members)

    def useful(self, radius: int) -> bool:
        """Worth probing: each substring searched within radius 0 or 1 (else the probes outnumber a scan's cost)."""
        return radius // len(self.bounds) <= 1


class HammingIndex:
    """Packed codes held as uint64 words, searched exactly; ``save``/``load`` persist it (memory-mapped)."""

    def __init__(
        self, codes: np.ndarray, bits: int, ids: np.ndarray | None = None, labels: np.ndarray | None = None
    ) -> None:
        self.bits = check_bits(bits)
        self.words = to_words(check_codes(codes, bits, "database"))
        self.multi_index: MultiIndex | None = None
        self.ids, self.labels = _item_arrays(len(self), ids, labels)
        self.id_order = None if self.ids is None else np.argsort(self.ids, kind="stable")
        self.source: str | None = None

    @classmethod
    def from_codes_file(cls, path: str | Path) -> HammingIndex:
        """The database group of an HDF5 codes file, with its ids and labels; ``source`` is the file's digest."""
        stream = CodeStream(path, "database")
        index = cls(stream.read("codes"), stream.bits, stream.read("ids"), stream.read("labels"))
        index.source = file_digest(path)
        return index

    def item_id(self, row: int) -> str:
        """The id of database row ``row`` (its row number when the index holds no ids)."""
        return str(row) if self.ids is None else bytes(self.ids[row]).decode("utf-8")

    def find(self, ident: str) -> int | None:
        """The first database row with this id, by binary search in ``id_order`` (the ids' sorted
        order, saved with them): about 20 probes of the memory-mapped ids for 1M, and no table of
        Python strings to build when a service starts."""
        if self.ids is None or self.id_order is None:
            return None
        key, order, ids = ident.encode("utf-8"), self.id_order, self.ids
        lo, hi = 0, len(order)
        while lo < hi:
            mid = (lo + hi) // 2
            if bytes(ids[order[mid]]) < key:
                lo = mid + 1
            else:
                hi = mid
        return int(order[lo]) if lo < len(order) and bytes(ids[order[lo]]) == key else None

    def __len__(self) -> int:
        return int(self.words.shape[1])

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        yield 0, self.words

    def sample(self, size: int) -> np.ndarray:
        """Evenly spaced codes (words), so a database sorted by code still gives a fair sample."""
        return np.ascontiguousarray(self.words[:, :: max(1, len(self) // size)][:, :size])

    def tables(self, radius: int) -> MultiIndex | None:
        """The multi-index tables when they help at this radius (built on first use)."""
        if self.multi_index is None and len(self) > 0:
            self.multi_index = MultiIndex.build(self.words, self.bits)
        return self.multi_index if self.multi_index is not None and self.multi_index.useful(radius) else None

    def search(self, queries: np.ndarray, k: int) -> Neighbours:
        return top_k(self, queries, k)

    def range_search(self, queries: np.ndarray, radius: int) -> Neighbours:
        return within(self, queries, radius)

    def save(self, directory: str | Path) -> None:
        """``index.json``, ``words.npy``, the ids and labels when held and, once built, the multi-index
        tables; written atomically."""
        with atomic_path(directory, directory=True) as tmp:
            meta = {"format": INDEX_FORMAT, "bits": self.bits, "count": len(self), "source": self.source}
            (tmp / "index.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
            np.save(tmp / "words.npy", self.words)
            for name in ("ids", "id_order", "labels"):
                if getattr(self, name) is not None:
                    np.save(tmp / f"{name}.npy", getattr(self, name))
            if self.multi_index is not None:
                for name in ("bounds", "starts", "members"):
                    np.save(tmp / f"{name}.npy", getattr(self.multi_index, name))

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> HammingIndex:
        """Reload a saved index; with ``mmap`` the arrays stay on disk and pages load as searched."""
        directory = Path(directory)
        meta_path = directory / "index.json"
        if not meta_path.exists():
            raise DeephashError("not a saved index: no index.json", path=directory)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            bits, count = int(meta["bits"]), int(meta["count"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DeephashError(f"unreadable index metadata ({exc})", path=meta_path) from None
        if meta.get("format") != INDEX_FORMAT:
            raise DeephashError(f"index format {meta.get('format')!r}, expected {INDEX_FORMAT}", path=meta_path)
        mode = "c" if mmap else None  # copy-on-write: writable to numba (one compiled variant), never written
        words = _load_array(directory / "words.npy", mode)
        if words.dtype != np.uint64 or words.shape != (-(-bits // 64), count):
            raise DeephashError(f"expected uint64 [{-(-bits // 64)}, {count}], got {words.dtype} {words.shape}")
        index = cls.__new__(cls)
        index.bits, index.words, index.multi_index = bits, words, None
        index.source = meta.get("source")
        items = [
            _load_array(directory / f"{name}.npy", mode) if (directory / f"{name}.npy").exists() else None
            for name in ("ids", "labels")
        ]
        try:
            index.ids, index.labels = _item_arrays(count, *items)
        except DeephashError as exc:
            raise exc.located(directory) from None
        index.id_order = None
        if index.ids is not None:
            index.id_order = _load_array(directory / "id_order.npy", mode)
            if index.id_order.shape != (count,):
                raise DeephashError(f"id_order holds {len(index.id_order)} rows for {count} codes", path=directory)
        if (directory / "bounds.npy").exists():
            index.multi_index = MultiIndex(
                *(_load_array(directory / f"{name}.npy", mode) for name in ("bounds", "starts", "members"))
            )
        return index


def _item_arrays(
    count: int, ids: np.ndarray | None, labels: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Ids as fixed-width UTF-8 bytes (memory-mappable, unlike Python strings) and uint8 labels [N, C]."""
    if ids is not None:
        ids = np.asarray(ids)
        if ids.dtype.kind != "S":
            ids = np.array([i if isinstance(i, bytes) else str(i).encode("utf-8") for i in ids.tolist()], "S")
        if ids.shape != (count,):
            raise DeephashError(f"{len(ids)} ids for {count} codes")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.dtype != np.uint8 or labels.ndim != 2 or len(labels) != count:
            raise DeephashError(f"labels must be uint8 [{count}, C], got {labels.dtype} {labels.shape}")
    return ids, labels


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file: what a saved index records of the codes file it was built from."""
    with Path(path).open("rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def _load_array(path: Path, mode: str | None) -> np.ndarray:
    if not path.exists():
        raise DeephashError("missing from the saved index", path=path)
    try:
        return np.asarray(np.load(path, mmap_mode=mode, allow_pickle=False))  # type: ignore[arg-type]
    except ValueError as exc:
        raise DeephashError(f"not a .npy array ({exc})", path=path) from None


class CodeStream:
    """One group of an HDF5 codes file (``query`` or ``database``), read ``chunk_rows`` codes at a time."""

    def __init__(self, path: str | Path, part: str = "database", chunk_rows: int = CHUNK_ROWS) -> None:
        self.path, self.part, self.chunk_rows = Path(path), part, chunk_rows
        with self._open() as f:
            if "bits" not in f.attrs:
                raise DeephashError("missing root attribute 'bits'", path=self.path)
            self.bits = int(f.attrs["bits"])
            codes = self._dataset(f, "codes")
            if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] * 8 != self.bits:
                raise DeephashError(
                    f"/{part}/codes is {codes.dtype} {codes.shape}; expected uint8 [N, {self.bits // 8}]"
                    f" for {self.bits} bits",
                    path=self.path,
                )
            self.size = int(codes.shape[0])

    def __len__(self) -> int:
        return self.size

    def _open(self) -> h5py.File:
        if not self.path.exists():
            raise DeephashError("codes file not found", path=self.path)
        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise DeephashError(f"not an HDF5 file ({exc})", path=self.path) from None

    def _dataset(self, f: h5py.File, name: str) -> h5py.Dataset:
        if f"{self.part}/{name}" not in f:
            raise DeephashError(f"missing dataset /{self.part}/{name}", path=self.path)
        return f[f"{self.part}/{name}"]

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        with self._open() as f:
            codes = self._dataset(f, "codes")
            starts = range(0, self.size, self.chunk_rows)
            hide = None if len(starts) >= 8 else True  # None: a bar on a terminal only, never in a log
            for lo in tqdm(starts, desc=f"scan {self.path.name}", unit="chunk", disable=hide, leave=False):
                yield lo, to_words(codes[lo : lo + self.chunk_rows])

    def sample(self, size: int) -> np.ndarray:
        """Evenly spaced codes (words) of the first chunk."""
        with self._open() as f:
            rows = min(self.size, self.chunk_rows)
            return to_words(self._dataset(f, "codes")[: rows : max(1, rows // size)][:size])

    def read(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """A dataset of the group (``ids``, ``labels``, ``codes``), whole or at the given rows."""
        with self._open() as f:
            data = self._dataset(f, name)
            if rows is None:
                return data[()]
            order = np.unique(rows)
            return data[order][np.searchsorted(order, rows)]

"""Binary codes on disk: packed uint8 rows (numpy.packbits order, as faiss expects) in HDF5.

Layout of a codes file:
    /query/codes      uint8 [Nq, bits/8]
    /query/labels     uint8 [Nq, C] multi-hot
    /query/ids        UTF-8 strings [Nq]
    /database/...     the same three datasets
    attributes: bits, method, dataset
Files are written without HDF5 timestamps, so the same codes give byte-identical files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from deephash.atomic import atomic_path
from deephash.errors import DeephashError

GROUPS = ("query", "database")
DATASETS = ("codes", "labels", "ids")


def pack_codes(signs: np.ndarray) -> np.ndarray:
    """+-1 (or real-valued: >= 0 is bit 1) [N, bits] -> packed uint8 [N, bits/8]."""
    if signs.ndim != 2 or signs.shape[1] % 8:
        raise DeephashError(f"codes must be [N, bits] with bits a multiple of 8, got {signs.shape}")
    return np.packbits(signs >= 0, axis=1)


def unpack_codes(packed: np.ndarray, bits: int) -> np.ndarray:
    """Packed uint8 [N, bits/8] -> int8 +-1 [N, bits]."""
    return np.unpackbits(packed, axis=1, count=bits).astype(np.int8) * 2 - 1


def substitute_codes(packed: np.ndarray, ids: list[str], learned: np.ndarray, learned_ids: list[str]) -> np.ndarray:
    """Replace the codes of items that have learned codes (an asymmetric method's training set)."""
    position = {ident: i for i, ident in enumerate(learned_ids)}
    out = packed.copy()
    for row, ident in enumerate(ids):
        if ident in position:
            out[row] = learned[position[ident]]
    return out


@dataclass
class CodeSet:
    codes: np.ndarray  # packed uint8 [N, bits/8]
    labels: np.ndarray  # uint8 [N, C]
    ids: list[str]

    def __len__(self) -> int:
        return len(self.codes)


@dataclass
class CodesFile:
    query: CodeSet
    database: CodeSet
    bits: int
    method: str
    dataset: str


#: rows written per slice when codes are streamed (a multiple of any usual encode batch size)
STREAM_ROWS = 4096


class PartWriter:
    """One group of a codes file being filled slice by slice, in row order."""

    def __init__(self, group: h5py.Group, size: int, bits: int, label_width: int) -> None:
        self.size, self.bits, self.filled = size, bits, 0
        self.codes = group.create_dataset("codes", shape=(size, bits // 8), dtype=np.uint8, track_times=False)
        self.labels = group.create_dataset("labels", shape=(size, label_width), dtype=np.uint8, track_times=False)
        self.ids = group.create_dataset("ids", shape=(size,), dtype=h5py.string_dtype("utf-8"), track_times=False)

    def write(self, part: CodeSet) -> None:
        """Append the rows of ``part`` after those already written."""
        if part.codes.ndim != 2 or part.codes.shape[1] * 8 != self.bits:
            raise DeephashError(f"{self.codes.parent.name[1:]} codes are {part.codes.shape} for {self.bits} bits")
        start, stop = self.filled, self.filled + len(part)
        if stop > self.size:
            raise DeephashError(f"{self.codes.parent.name[1:]}: more than the {self.size} rows declared")
        if len(part):
            self.codes[start:stop] = part.codes.astype(np.uint8)
            self.labels[start:stop] = part.labels.astype(np.uint8)
            self.ids[start:stop] = np.array(part.ids, dtype=object)
        self.filled = stop


class CodesWriter:
    """An open codes file: each group is declared with its size, then filled by ``PartWriter.write``."""

    def __init__(self, file: h5py.File, bits: int) -> None:
        self.file, self.bits = file, bits
        self.parts: dict[str, PartWriter] = {}

    def part(self, name: str, size: int, label_width: int) -> PartWriter:
        if name not in GROUPS or name in self.parts:
            raise DeephashError(f"codes group {name!r}: expected each of {GROUPS} once")
        self.parts[name] = PartWriter(self.file.create_group(name, track_order=False), size, self.bits, label_width)
        return self.parts[name]


@contextmanager
def codes_writer(path: str | Path, bits: int, method: str, dataset: str) -> Iterator[CodesWriter]:
    """Write a codes file group by group and slice by slice, so a writer never holds every code at
    once; the file appears only when both groups are complete (written to a temp path and renamed)."""
    with atomic_path(path) as tmp:
        f = h5py.File(tmp, "w", track_order=False)
        try:
            f.attrs["bits"] = np.int64(bits)
            f.attrs["method"] = method
            f.attrs["dataset"] = dataset
            writer = CodesWriter(f, bits)
            yield writer
            for name in GROUPS:
                part = writer.parts.get(name)
                if part is None or part.filled != part.size:
                    got = "none" if part is None else part.filled
                    raise DeephashError(f"codes group {name!r} incomplete: {got} of its rows written", path=path)
            f.close()
        except BaseException:
            # HDF5 flushes on close; on a full disk that flush fails, the file stays open and the process
            # later dies in HDF5 (SIGBUS). Emptying the doomed temporary first gives the flush room.
            os.truncate(tmp, 0)
            f.close()
            raise


def write_codes(path: str | Path, codes: CodesFile) -> None:
    with codes_writer(path, codes.bits, codes.method, codes.dataset) as writer:
        for name in GROUPS:
            part: CodeSet = getattr(codes, name)
            writer.part(name, len(part), part.labels.shape[1]).write(part)


def stream_codes(
    path: str | Path,
    parts: dict[str, tuple[int, Callable[[int, int], CodeSet]]],
    bits: int,
    method: str,
    dataset: str,
    rows: int = STREAM_ROWS,
) -> None:
    """Write a codes file whose groups are produced in slices: ``parts[name] = (size, produce)``,
    where ``produce(start, stop)`` returns rows ``start:stop`` (e.g. encoded from a memory-mapped
    cache), so neither the images nor every code is ever held at once."""
    with codes_writer(path, bits, method, dataset) as writer:
        for name, (size, produce) in parts.items():
            first = produce(0, min(rows, size))
            out = writer.part(name, size, first.labels.shape[1])
            out.write(first)
            with tqdm(total=size, initial=len(first), desc=f"encode {name}", unit="img", mininterval=2) as bar:
                for start in range(len(first), size, rows):
                    out.write(chunk := produce(start, min(start + rows, size)))
                    bar.update(len(chunk))


def read_codes(path: str | Path) -> CodesFile:
    """An HDF5 codes file, checked whole: root attributes, both groups with codes of the declared
    width, 0/1 labels and ids, at least one row each; anything else is a one-line error naming it."""
    path = Path(path)
    if not path.exists():
        raise DeephashError("codes file not found", path=path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeephashError(f"not an HDF5 file ({exc})", path=path) from None
    try:
        with f:
            return _read_codes(f, path)
    except (KeyError, TypeError, ValueError, OSError, UnicodeDecodeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DeephashError(f"unreadable codes file ({message})", path=path) from None


def _read_codes(f: h5py.File, path: Path) -> CodesFile:
    for attr in ("bits", "method", "dataset"):
        if attr not in f.attrs:
            raise DeephashError(f"missing root attribute {attr!r}", path=path)
    bits = f.attrs["bits"]
    if not isinstance(bits, int | np.integer) or bits <= 0 or bits % 8:
        raise DeephashError(f"root attribute 'bits' is {bits!r}, expected a positive multiple of 8", path=path)
    bits = int(bits)
    parts = {}
    for name in GROUPS:
        if not isinstance(f.get(name), h5py.Group):
            raise DeephashError(f"missing group /{name}", path=path)
        for ds in DATASETS:
            if not isinstance(f[name].get(ds), h5py.Dataset):
                raise DeephashError(f"missing dataset /{name}/{ds}", path=path)
        group = f[name]
        codes = group["codes"][()]
        labels = group["labels"][()]
        raw_ids = np.atleast_1d(group["ids"][()])
        ids = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in raw_ids]
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] * 8 != bits:
            raise DeephashError(
                f"/{name}/codes is {codes.dtype} {codes.shape}; expected uint8 [N, {bits // 8}] for {bits} bits",
                path=path,
            )
        if len(codes) == 0:
            raise DeephashError(f"/{name} has no rows (expected at least one {name} item)", path=path)
        if labels.ndim != 2 or len(labels) != len(codes) or len(ids) != len(codes):
            raise DeephashError(f"/{name}: codes, labels and ids have different lengths", path=path)
        if labels.dtype.kind not in "biu" or not np.isin(labels, (0, 1)).all():
            raise DeephashError(
                f"/{name}/labels must be 0/1 (multi-hot), got values {np.unique(labels)[:5]}", path=path
            )
        parts[name] = CodeSet(codes=codes, labels=labels.astype(np.uint8), ids=ids)
    if parts["query"].labels.shape[1] != parts["database"].labels.shape[1]:
        raise DeephashError("query and database labels have different widths", path=path)
    return CodesFile(
        query=parts["query"],
        database=parts["database"],
        bits=bits,
        method=str(f.attrs["method"]),
        dataset=str(f.attrs["dataset"]),
    )

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

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

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


def write_codes(path: str | Path, codes: CodesFile) -> None:
    for name in GROUPS:
        part: CodeSet = getattr(codes, name)
        if part.codes.shape[1] * 8 != codes.bits:
            raise DeephashError(f"{name} codes are {part.codes.shape[1] * 8} bits wide, not {codes.bits}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=False) as f:
        f.attrs["bits"] = np.int64(codes.bits)
        f.attrs["method"] = codes.method
        f.attrs["dataset"] = codes.dataset
        for name in GROUPS:
            part = getattr(codes, name)
            group = f.create_group(name, track_order=False)
            group.create_dataset("codes", data=part.codes.astype(np.uint8), track_times=False)
            group.create_dataset("labels", data=part.labels.astype(np.uint8), track_times=False)
            group.create_dataset(
                "ids", data=np.array(part.ids, dtype=object), dtype=h5py.string_dtype("utf-8"), track_times=False
            )


def read_codes(path: str | Path) -> CodesFile:
    path = Path(path)
    if not path.exists():
        raise DeephashError("codes file not found", path=path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeephashError(f"not an HDF5 file ({exc})", path=path) from None
    with f:
        for attr in ("bits", "method", "dataset"):
            if attr not in f.attrs:
                raise DeephashError(f"missing root attribute {attr!r}", path=path)
        bits = int(f.attrs["bits"])
        parts = {}
        for name in GROUPS:
            for ds in DATASETS:
                if f"{name}/{ds}" not in f:
                    raise DeephashError(f"missing dataset /{name}/{ds}", path=path)
            group = f[name]
            codes = group["codes"][()]
            labels = group["labels"][()]
            ids = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in group["ids"][()]]
            if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] * 8 != bits:
                raise DeephashError(
                    f"/{name}/codes is {codes.dtype} {codes.shape}; expected uint8 [N, {bits // 8}] for {bits} bits",
                    path=path,
                )
            if labels.ndim != 2 or len(labels) != len(codes) or len(ids) != len(codes):
                raise DeephashError(f"/{name}: codes, labels and ids have different lengths", path=path)
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

"""One codes file's database as a search service: look up an item by id or encode an uploaded image,
answer its top k. No web framework here (that is ``deephash.web``), so the logic is tested directly.

The database index is loaded once: memory-mapped from a saved ``HammingIndex`` when one built from
this very codes file exists (its recorded SHA-256 matches), else built from the HDF5 file and, with
an index path, saved there for the next start. Queries by id look in the query group, then the
database group, as ``python -m deephash search --query-id`` does.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from deephash.data.cache import load_cache
from deephash.errors import DeephashError
from deephash.search import CodeStream, HammingIndex, file_digest

MAX_K = 1000  # the largest k a request may ask for (or the database size, when smaller)


class BadRequest(DeephashError):
    """A request the service refuses, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Answer:
    results: list[dict[str, Any]]  # {"id", "distance", "labels"} in ascending distance
    ms: float  # server time: encoding (an upload) plus search
    query: dict[str, Any] | None = None  # {"id", "part", "labels"} of a query by id

    def json(self) -> dict[str, Any]:
        body = {"results": self.results, "ms": round(self.ms, 3)}
        return body if self.query is None else {"query": self.query, **body}


def open_index(codes: str | Path, index: str | Path | None = None) -> HammingIndex:
    """The database index of ``codes``: the saved one at ``index`` when it was built from this file, else
    built now (and saved to ``index`` when given)."""
    if index is not None and (Path(index) / "index.json").exists():
        loaded = HammingIndex.load(index)
        if loaded.source == file_digest(codes) and loaded.ids is not None and loaded.labels is not None:
            return loaded
        print(f"note: {index} was not built from {codes}; rebuilding it", file=sys.stderr)
    built = HammingIndex.from_codes_file(codes)
    if index is not None:
        built.save(index)
    return built


class SearchService:
    """The index, the query group, class names, the encoder (optional) and the cached images (optional)."""

    def __init__(
        self,
        codes: str | Path,
        model: str | Path | None = None,
        cache: str | Path | None = None,
        index: str | Path | None = None,
        k: int = 10,
    ) -> None:
        started = time.perf_counter()
        self.index = open_index(codes, index)
        self.index_seconds = time.perf_counter() - started
        query = CodeStream(codes, "query")
        if query.bits != self.index.bits:
            raise DeephashError("query and database codes have different lengths", path=codes)
        self.query_codes, self.query_labels = query.read("codes"), query.read("labels")
        self.query_ids = [i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in query.read("ids")]
        if self.index.ids is None or self.index.labels is None:
            raise DeephashError("the index holds no ids or labels", path=index)
        self.labels: np.ndarray = self.index.labels
        self.query_rows = {ident: row for row, ident in reversed(list(enumerate(self.query_ids)))}
        self.max_k = min(MAX_K, len(self.index))
        self.k = min(k, self.max_k)
        classes: list[str] = []
        self.encoder: torch.nn.Module | None = None
        if model is not None:
            from deephash.encoder import input_shape, load_encoder

            self.encoder, config = load_encoder(model)
            if self.encoder.bits != self.index.bits:
                raise DeephashError(
                    f"the model makes {self.encoder.bits}-bit codes, the codes file holds {self.index.bits}-bit codes",
                    path=model,
                )
            self.shape = input_shape(config, model)
            classes = list(config.get("classes", []))
        width = self.labels.shape[1]
        self.names = np.array([classes[c] if c < len(classes) else str(c) for c in range(width)], dtype=object)
        self.images: dict[str, np.ndarray] = {}
        if cache is not None:
            sizes = {"query": len(self.query_ids), "database": len(self.index)}
            for part, size in sizes.items():
                images = load_cache(Path(cache) / f"{part}.npy")
                if len(images) != size:
                    raise DeephashError(
                        f"the cache holds {len(images)} images but the codes file's {part} has {size}",
                        path=Path(cache) / f"{part}.npy",
                    )
                self.images[part] = images
        self.lock = threading.Lock()  # numba's default thread pool takes one parallel kernel call at a time

    def check_k(self, k: object) -> int:
        try:
            value = int(str(k))
        except ValueError:
            raise BadRequest(f"k must be an integer in 1..{self.max_k}, got {k!r}") from None
        if not 1 <= value <= self.max_k:
            raise BadRequest(f"k must be an integer in 1..{self.max_k}, got {value}")
        return value

    def label_names(self, labels: np.ndarray) -> list[list[str]]:
        """Class names of each row of multi-hot ``labels`` [R, C], in one vectorised pass."""
        rows, columns = np.nonzero(labels)
        out: list[list[str]] = [[] for _ in range(len(labels))]
        for r, name in zip(rows.tolist(), self.names[columns].tolist(), strict=True):
            out[r].append(name)
        return out

    def item(self, ident: str) -> tuple[str, int]:
        """(part, row) of an id of the query group, else of the database group."""
        if ident in self.query_rows:
            return "query", self.query_rows[ident]
        row = self.index.find(ident)
        if row is None:
            raise BadRequest(f"no query or database item has the id {ident!r}", status=404)
        return "database", row

    def _search(self, code: np.ndarray, k: int, started: float) -> Answer:
        with self.lock:
            found = self.index.search(code, k)
        rows = found.indices[0]
        results = [
            {"id": self.index.item_id(row), "distance": d, "labels": names}
            for d, row, names in zip(
                found.distances[0].tolist(), rows.tolist(), self.label_names(self.labels[rows]), strict=True
            )
        ]
        return Answer(results, (time.perf_counter() - started) * 1000)

    def search_id(self, ident: str, k: object) -> Answer:
        started = time.perf_counter()
        k = self.check_k(k)
        part, row = self.item(ident)
        code = self.query_codes[row : row + 1] if part == "query" else self.index_codes(row)
        answer = self._search(code, k, started)
        labels = self.query_labels if part == "query" else self.labels
        answer.query = {"id": ident, "part": part, "labels": self.label_names(labels[row : row + 1])[0]}
        return answer

    def index_codes(self, row: int) -> np.ndarray:
        """The packed code of database row ``row``, read back from the index's words."""
        words = np.ascontiguousarray(self.index.words[:, row])
        return words.view(np.uint8)[None, : self.index.bits // 8]

    def search_image(self, data: bytes, k: object) -> Answer:
        started = time.perf_counter()
        k = self.check_k(k)
        if self.encoder is None:
            raise BadRequest("this service has no model to encode images (start it with --model)")
        from deephash.encoder import prepare_image

        try:
            pixels = prepare_image(io.BytesIO(data), self.shape)
        except DeephashError as exc:
            raise BadRequest(f"not an image: {exc.message}") from None
        with torch.no_grad():
            code = self.encoder(torch.from_numpy(pixels[None])).numpy()
        return self._search(code, k, started)

    def thumbnail(self, ident: str) -> bytes:
        """The cached image of an item as PNG bytes (the page scales it up)."""
        part, row = self.item(ident)
        if part not in self.images:
            raise BadRequest("this service has no image cache (start it with --cache)", status=404)
        pixels = np.asarray(self.images[part][row])
        out = io.BytesIO()
        Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(out, format="PNG")
        return out.getvalue()

    def warm(self) -> None:
        """One search, so that numba loads its compiled kernels (seconds) before the first request."""
        if len(self.index):
            self.index.search(self.index_codes(0), 1)

    def info(self) -> dict[str, Any]:
        """What the page needs to start: sizes, k limits, whether uploads work, some query ids to pick."""
        return {
            "bits": self.index.bits,
            "database": len(self.index),
            "queries": len(self.query_ids),
            "k": self.k,
            "max_k": self.max_k,
            "upload": self.encoder is not None,
            "thumbnails": bool(self.images),
            "query_ids": self.query_ids[:200],
        }

"""Retrieval galleries: each query beside its top-k, captioned with id and Hamming distance.

A result is framed green when it shares a label with the query, red when it does not, grey when the
labels are unknown (a query image from outside the dataset); the query itself is framed blue. Drawn
with PIL at a fixed tile size, so the same search gives the same PNG bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from deephash.atomic import atomic_path
from deephash.codes import CodesFile
from deephash.search import HammingIndex, Neighbours

TILE = 96  # image side in pixels
FRAME = 4  # coloured frame around each image
CAPTION = 30  # two lines of text under each tile
GAP = 6
COLOURS = {"query": (40, 90, 220), True: (30, 160, 60), False: (210, 40, 40), None: (150, 150, 150)}


@dataclass
class Tile:
    image: np.ndarray | None  # uint8 [H, W, C]; None draws an empty grey square
    caption: str
    relevant: bool | str | None = None  # True / False / None (unknown), or "query"


def gallery_size(rows: int, columns: int) -> tuple[int, int]:
    """(width, height) in pixels of a gallery of ``rows`` x ``columns`` tiles."""
    cell_w, cell_h = TILE + 2 * FRAME + GAP, TILE + 2 * FRAME + CAPTION + GAP
    return columns * cell_w + GAP, rows * cell_h + GAP


def draw_gallery(rows: Sequence[Sequence[Tile]], path: str | Path) -> None:
    """One row of tiles per query, written atomically as a PNG."""
    columns = max(len(row) for row in rows)
    canvas = Image.new("RGB", gallery_size(len(rows), columns), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=11)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            x = GAP + c * (TILE + 2 * FRAME + GAP)
            y = GAP + r * (TILE + 2 * FRAME + CAPTION + GAP)
            draw.rectangle((x, y, x + TILE + 2 * FRAME - 1, y + TILE + 2 * FRAME - 1), fill=COLOURS[tile.relevant])
            canvas.paste(_square(tile.image), (x + FRAME, y + FRAME))
            for line, text in enumerate(tile.caption.splitlines()[:2]):
                draw.text((x, y + TILE + 2 * FRAME + 2 + 13 * line), _fit(draw, text, font), fill=(0, 0, 0), font=font)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")


def _square(image: np.ndarray | None) -> Image.Image:
    """The image scaled to TILE x TILE (nearest neighbour keeps tiny images such as 8x8 digits crisp)."""
    if image is None:
        return Image.new("RGB", (TILE, TILE), (225, 225, 225))
    pixels = image[:, :, 0] if image.shape[2] == 1 else image
    pil = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
    side = max(pil.size)
    padded = Image.new("RGB", (side, side), (255, 255, 255))
    padded.paste(pil, ((side - pil.size[0]) // 2, (side - pil.size[1]) // 2))
    small = side < TILE
    return padded.resize((TILE, TILE), Image.Resampling.NEAREST if small else Image.Resampling.BILINEAR)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> str:
    """Shorten a caption line with an ellipsis until it fits under its tile."""
    if draw.textlength(text, font=font) <= TILE + 2 * FRAME:
        return text
    while text and draw.textlength(text + "...", font=font) > TILE + 2 * FRAME:
        text = text[:-1]
    return text + "..."


def result_rows(
    queries: Sequence[Tile],
    query_labels: np.ndarray | None,
    found: Neighbours,
    images: np.ndarray | None,
    labels: Mapping[int, np.ndarray] | np.ndarray | None,
    ids: Mapping[int, str] | Sequence[str],
) -> list[list[Tile]]:
    """Gallery rows: each query tile, then its results. ``images``, ``labels`` and ``ids`` are the
    database's, indexed by database row (arrays, or mappings of the rows found); relevance is shown
    only when the query's and the database's labels are both known."""
    rows = []
    for q, query in enumerate(queries):
        distances, indices = found.row(q)
        row = [Tile(query.image, query.caption, "query")]
        for rank, (d, i) in enumerate(zip(distances.tolist(), indices.tolist(), strict=True), start=1):
            relevant = None
            if query_labels is not None and labels is not None:
                relevant = bool(np.any(query_labels[q].astype(bool) & labels[i].astype(bool)))
            image = None if images is None else np.asarray(images[i])
            row.append(Tile(image, f"{rank}. {ids[i]}\nd = {d}", relevant))
        rows.append(row)
    return rows


def codes_gallery(
    codes: CodesFile, query_images: np.ndarray, database_images: np.ndarray, shown: int, k: int, path: str | Path
) -> None:
    """The first ``shown`` queries of a codes file beside their top k. The query list is stored in a
    seeded shuffled order, so these are the same few, picked at random, for every method and code length."""
    query, database = codes.query, codes.database
    rows = range(min(shown, len(query)))
    found = HammingIndex(database.codes, codes.bits).search(query.codes[: len(rows)], min(k, len(database)))
    tiles = [Tile(query_images[i], f"{query.ids[i]}\nquery") for i in rows]
    draw_gallery(result_rows(tiles, query.labels, found, database_images, database.labels, database.ids), path)

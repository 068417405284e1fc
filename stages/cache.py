"""Stage `cache`: decode and resize every split's images once into uint8 arrays.

``cache.on_bad_image: skip`` leaves unreadable images out (their rows are listed in ``meta.json``, so
the later stages drop them from the split's lists too); ``--bad`` lists them, one per line.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from common import load_params, parser, run, section
from deephash.atomic import atomic_path, write_json, write_text
from deephash.errors import DeephashError


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="data/split", help="split stage output (default: %(default)s)")
    p.add_argument("--out", default="data/cache", help="output directory (default: %(default)s)")
    p.add_argument("--bad", default="data/bad_images.txt", help="unreadable images skipped (default: %(default)s)")
    args = p.parse_args()
    # imported once the arguments parse: --help answers without loading torch, numba or matplotlib
    from deephash.data import dataset_from_params
    from deephash.data.cache import build_cache, parse_size, readable
    from deephash.data.split import PARTS, read_split

    params = load_params(args.params, training=False)
    size = parse_size(section(params, "cache.size"))
    workers = section(params, "cache", {}).get("workers", 0)
    if not isinstance(workers, int) or workers < 0:
        raise DeephashError(f"cache.workers: expected a number of processes >= 0, got {workers!r}")
    skip = section(params, "cache", {}).get("on_bad_image", "fail") == "skip"
    _, adapter = dataset_from_params(section(params, "dataset"))
    split = read_split(args.split)
    shapes, skipped, bad = {}, {}, []
    with atomic_path(args.out, directory=True) as tmp:
        for part in (p for p in PARTS if len(split.part(p))):  # no validation part: nothing to cache
            catalog = split.part(part)
            if skip:
                kept, unreadable = readable(adapter, catalog.sources, size)
                if not kept:
                    raise DeephashError(f"every {part} image is unreadable (first: {unreadable[0]})")
                if unreadable:
                    skipped[part] = sorted(set(range(len(catalog))) - set(kept))
                    bad += [f"{part}\t{line}" for line in unreadable]
                    catalog = catalog.subset(np.array(kept, dtype=np.int64))
            shapes[part] = build_cache(
                adapter, catalog, tmp / f"{part}.npy", size, desc=f"cache {part}", workers=workers
            )
        meta: dict[str, Any] = {"size": list(size) if isinstance(size, tuple) else size, "shapes": shapes}
        write_json(tmp / "meta.json", meta | ({"skipped": skipped} if skipped else {}))
        write_text(args.bad, "".join(line + "\n" for line in bad))
    if bad:
        print(f"deephash: warning: skipped {len(bad)} unreadable images (listed in {args.bad})", file=sys.stderr)
    print("cache: " + ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in shapes.items()))


if __name__ == "__main__":
    run(main)

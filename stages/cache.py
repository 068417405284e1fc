"""Stage `cache`: decode and resize every split's images once into uint8 arrays."""

from __future__ import annotations

from common import load_params, parser, run, section
from deephash.atomic import atomic_path, write_json
from deephash.errors import DeephashError


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="data/split", help="split stage output (default: %(default)s)")
    p.add_argument("--out", default="data/cache", help="output directory (default: %(default)s)")
    args = p.parse_args()
    # imported once the arguments parse: --help answers without loading torch, numba or matplotlib
    from deephash.data import dataset_from_params
    from deephash.data.cache import build_cache, parse_size
    from deephash.data.split import PARTS, read_split

    params = load_params(args.params, training=False)
    size = parse_size(section(params, "cache.size"))
    workers = section(params, "cache", {}).get("workers", 0)
    if not isinstance(workers, int) or workers < 0:
        raise DeephashError(f"cache.workers: expected a number of processes >= 0, got {workers!r}")
    _, adapter = dataset_from_params(section(params, "dataset"))
    split = read_split(args.split)
    shapes = {}
    with atomic_path(args.out, directory=True) as tmp:
        for part in (p for p in PARTS if len(split.part(p))):  # no validation part: nothing to cache
            shapes[part] = build_cache(
                adapter, split.part(part), tmp / f"{part}.npy", size, desc=f"cache {part}", workers=workers
            )
        write_json(tmp / "meta.json", {"size": list(size) if isinstance(size, tuple) else size, "shapes": shapes})
    print("cache: " + ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in shapes.items()))


if __name__ == "__main__":
    run(main)

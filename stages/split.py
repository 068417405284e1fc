"""Stage `split`: the dataset's images into seeded train / validation / query / database lists."""

from __future__ import annotations

from pathlib import Path

from common import load_params, parser, run, section
from deephash.atomic import write_json
from deephash.errors import DeephashError


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--out", default="data/split", help="output directory (default: %(default)s)")
    p.add_argument("--counts", default="metrics/split.json", help="split sizes, a DVC metric")
    args = p.parse_args()
    # imported once the arguments parse: --help answers without loading torch, numba or matplotlib
    from deephash.data import dataset_from_params
    from deephash.data.split import FIXED, split_catalog, write_split

    params = load_params(args.params)
    name, adapter = dataset_from_params(section(params, "dataset"))
    split = dict(section(params, "split"))
    protocol, seed, validation = split.pop("protocol"), split.pop("seed"), split.pop("validation", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DeephashError(f"split.seed: expected an integer, got {seed!r}")
    catalog = adapter.catalog()
    parts = split_catalog(catalog, protocol, seed, validation=validation, **split)
    write_split(args.out, parts, name, catalog.extra)
    counts = {**parts.counts(), "classes": len(catalog.classes), "multilabel": catalog.multilabel}
    write_json(Path(args.counts), counts)
    print(f"split {name} by {protocol} (seed {seed}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if protocol in FIXED:
        print(f"  {protocol} fixes its own counts: {FIXED[protocol].about}; split.query/train/database are unused")


if __name__ == "__main__":
    run(main)

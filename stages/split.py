"""Stage `split`: the dataset's images into seeded train / query / database lists."""

from __future__ import annotations

from pathlib import Path

from common import load_params, parser, run, section
from deephash.atomic import write_json
from deephash.data import create_dataset
from deephash.data.split import split_catalog, write_split


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--out", default="data/split", help="output directory (default: %(default)s)")
    p.add_argument("--counts", default="metrics/split.json", help="split sizes, a DVC metric")
    args = p.parse_args()
    params = load_params(args.params)
    dataset = dict(section(params, "dataset"))
    split = dict(section(params, "split"))
    name = dataset.pop("name")
    adapter = create_dataset(name, **dataset)
    catalog = adapter.catalog()
    parts = split_catalog(catalog, split.pop("protocol"), int(split.pop("seed")), **split)
    write_split(args.out, parts, name, catalog.extra)
    counts = {**parts.counts(), "classes": len(catalog.classes), "multilabel": catalog.multilabel}
    write_json(Path(args.counts), counts)
    print(f"split {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    run(main)

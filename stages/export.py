"""Stage `export@<method>-<bits>`: encode query and database; packed codes, labels, ids to HDF5."""

from __future__ import annotations

from common import check_bits, load_params, matrix_parser, run, section
from deephash.checkpoint import eval_config, load_model, load_train_codes
from deephash.codes import CodeSet, CodesFile, substitute_codes, write_codes
from deephash.data.arrays import load_arrays
from deephash.data.split import read_split


def main() -> None:
    p = matrix_parser(__doc__)
    p.add_argument("--model", required=True, help="model directory of the train stage")
    p.add_argument("--cache", default="data/cache")
    p.add_argument("--out", required=True, help="codes file (codes/<method>-<bits>.h5)")
    args = p.parse_args()
    bits = check_bits(args.bits)
    batch_size = int(section(load_params(args.params), "export.batch_size"))
    network, method, config = load_model(args.model)
    split = read_split(args.split)
    preprocessing = eval_config(config)
    train_codes = load_train_codes(args.model)
    parts = {}
    for part in ("query", "database"):
        catalog = split.part(part)
        data = load_arrays(args.cache, catalog, part)
        codes = method.encode(network, data, preprocessing, batch_size, desc=f"encode {part}")
        if part == "database" and train_codes is not None:
            codes = substitute_codes(codes, catalog.ids, *train_codes)
        parts[part] = CodeSet(codes=codes, labels=catalog.labels, ids=catalog.ids)
    write_codes(
        args.out,
        CodesFile(
            query=parts["query"], database=parts["database"], bits=bits, method=args.method, dataset=config["dataset"]
        ),
    )
    print(f"export {args.method}-{bits}: {len(parts['query'])} query and {len(parts['database'])} database codes")


if __name__ == "__main__":
    run(main)

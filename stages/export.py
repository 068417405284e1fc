"""Stage `export@<method>-<bits>`: encode query and database; packed codes, labels, ids to HDF5.

Streams: slices of the memory-mapped cache are encoded and written in turn.
"""

from __future__ import annotations

from collections.abc import Callable

from common import check_bits, load_params, matrix_parser, run, section


def main() -> None:
    p = matrix_parser(__doc__)
    p.add_argument("--model", required=True, help="model directory of the train stage")
    p.add_argument("--cache", default="data/cache")
    p.add_argument("--out", required=True, help="codes file (codes/<method>-<bits>.h5)")
    args = p.parse_args()
    # imported once the arguments parse: --help answers without loading torch, numba or matplotlib
    from deephash.checkpoint import eval_config, load_model, load_train_codes
    from deephash.codes import GROUPS, CodeSet, stream_codes, substitute_codes
    from deephash.data.arrays import ImageArrays, load_arrays
    from deephash.data.cache import kept_catalog
    from deephash.data.split import read_split

    bits = check_bits(args.bits)
    batch_size = int(section(load_params(args.params), "export.batch_size"))
    network, method, config = load_model(args.model)
    split = read_split(args.split)
    preprocessing = eval_config(config)
    train_codes = load_train_codes(args.model)

    def producer(part: str) -> tuple[int, Callable[[int, int], CodeSet]]:
        data = load_arrays(args.cache, split.part(part), part)
        catalog = kept_catalog(split.part(part), args.cache, part)  # the rows of ``data``

        def produce(start: int, stop: int) -> CodeSet:
            rows = ImageArrays(data.images[start:stop], data.labels[start:stop])  # a view of the memory map
            codes = method.encode(network, rows, preprocessing, batch_size, desc=f"encode {part}")
            ids = catalog.ids[start:stop]
            if part == "database" and train_codes is not None:
                codes = substitute_codes(codes, ids, *train_codes)
            return CodeSet(codes=codes, labels=catalog.labels[start:stop], ids=ids)

        return len(catalog), produce

    parts = {part: producer(part) for part in GROUPS}
    # whole batches per slice: the same batches, hence the same codes, as encoding the part at once
    stream_codes(args.out, parts, bits, args.method, config["dataset"], rows=batch_size * 16)
    print(f"export {args.method}-{bits}: {parts['query'][0]} query and {parts['database'][0]} database codes")


if __name__ == "__main__":
    run(main)

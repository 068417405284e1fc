"""``python -m deephash``: the library's tools without DVC (bring your own S, codes or model)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from deephash.errors import DeephashError


def cmd_centers(args: argparse.Namespace) -> None:
    import numpy as np

    from deephash.centers import AlmConfig, semantic_centers

    path = Path(args.similarity)
    if not path.exists():
        raise DeephashError("similarity matrix not found", path=path)
    try:
        similarity = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DeephashError(f"not a .npy array: {exc}", path=path) from None
    if args.bits <= 0 or args.bits % 8:
        raise DeephashError(f"--bits: {args.bits} is not a positive multiple of 8")
    centers, report = semantic_centers(
        similarity, args.bits, seed=args.seed, config=AlmConfig(cycles=args.cycles), variant=args.variant
    )
    from deephash.atomic import atomic_path

    with atomic_path(args.out) as tmp, tmp.open("wb") as f:
        np.save(f, centers.astype(np.int8))
    losses = ", ".join(f"{k} {v:.4f}" for k, v in report.s_loss.items())
    print(f"d {report.d}, min distance {report.min_distance}, mean {report.mean_distance:.2f}, S_loss {losses}")
    print(f"wrote {args.out}: int8 [{report.num_classes}, {args.bits}] of +-1, row i = class i")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from deephash.atomic import write_json
    from deephash.codes import read_codes
    from deephash.metrics import evaluate_codes, parse_topk

    topk = parse_topk([v if v == "all" else int(v) for v in args.topk], key="--topk")
    codes = read_codes(args.codes)
    result = evaluate_codes(codes.query, codes.database, codes.bits, topk=topk, pn=args.pn)
    write_json(args.out, result.metrics)
    print(json.dumps(result.metrics, indent=2))


def cmd_datasets(args: argparse.Namespace) -> None:
    from deephash.data import dataset_class, list_datasets
    from deephash.data.base import adapter_options
    from deephash.data.split import protocol_help

    print("Datasets (dataset.name; options go under dataset.<name>, images under dataset.root):\n")
    for name in list_datasets():
        adapter = dataset_class(name)
        print(f"{name}: {(adapter.__doc__ or '').strip().splitlines()[0]}")
        print(f"  expects:  {adapter.layout}")
        options = adapter_options(adapter)
        shown = " ".join(f"dataset.{name}.{key}={value!r}" for key, value in options.items()) or "none"
        print(f"  options:  {shown}")
        print(f"  example:  {adapter.example}\n")
    print("Split protocols (split.protocol):\n")
    for name, about in protocol_help().items():
        print(f"  {name:<17} {about}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deephash", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("centers", help="SHC semantic hash centres from your own similarity matrix")
    p.add_argument("--similarity", required=True, help="C x C similarity matrix (.npy), values in [-1, 1]")
    p.add_argument("--bits", type=int, required=True, help="code length, a multiple of 8")
    p.add_argument("--out", required=True, help="output .npy: int8 [C, bits] of +-1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cycles", type=int, default=30, help="augmented-Lagrangian cycles (default: 30)")
    p.add_argument("--variant", default="semantic", choices=["semantic", "distance_only", "semantic_only"])
    p.set_defaults(func=cmd_centers)

    p = sub.add_parser("evaluate", help="mAP@k, P@N, precision within radius 2 of an HDF5 codes file")
    p.add_argument("--codes", required=True, help="HDF5 codes file (query/ and database/ groups)")
    p.add_argument("--out", required=True, help="metrics JSON to write")
    p.add_argument("--topk", nargs="+", default=["100", "1000", "all"], help="k list for mAP@k")
    p.add_argument("--pn", nargs="+", type=int, default=[1, 10, 100, 1000], help="N list for P@N")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("datasets", help="the dataset adapters, what each expects on disk, and the split protocols")
    p.set_defaults(func=cmd_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DeephashError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

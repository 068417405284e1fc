"""``python -m deephash``: the library's tools without DVC (bring your own S, codes or model)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deephash.errors import DeephashError, debugging, exit_on_error

if TYPE_CHECKING:
    import numpy as np

    from deephash.gallery import Tile
    from deephash.search import CodeStream


def cmd_centers(args: argparse.Namespace) -> None:
    import numpy as np

    from deephash.centers import AlmConfig, check_capacity, read_similarity, semantic_centers
    from deephash.config import check_bits

    check_bits(args.bits, "--bits")
    similarity = read_similarity(args.similarity)
    try:
        check_capacity(len(similarity), args.bits)
    except DeephashError as exc:
        raise exc.located(args.similarity) from None
    centers, report = semantic_centers(
        similarity, args.bits, seed=args.seed, config=AlmConfig(cycles=args.cycles), variant=args.variant
    )
    from deephash.atomic import atomic_path

    with atomic_path(args.out) as tmp, tmp.open("wb") as f:
        np.save(f, centers.astype(np.int8))
    note = report.fallback_note()
    if note is not None:
        print(f"deephash: warning: {note}", file=sys.stderr)
    losses = ", ".join(f"{k} {v:.4f}" for k, v in report.s_loss.items())
    print(f"d {report.d}, min distance {report.min_distance}, mean {report.mean_distance:.2f}, S_loss {losses}")
    print(f"wrote {args.out}: int8 [{report.num_classes}, {args.bits}] of +-1, row i = class i")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from deephash.atomic import write_json
    from deephash.codes import read_codes
    from deephash.config import parse_topk
    from deephash.metrics import evaluate_codes

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


def cmd_search(args: argparse.Namespace) -> None:
    import warnings

    import numpy as np

    from deephash.gallery import draw_gallery, result_rows
    from deephash.search import CodeStream, top_k

    database = CodeStream(args.codes, "database")
    queries, tiles, query_labels = _stored_query(args, database) if args.query_id else _encoded_queries(args, database)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = top_k(database, queries, args.topk)
    for warning in caught:
        print(f"note: {warning.message}", file=sys.stderr)
    rows = np.unique(found.indices)
    ids = dict(zip(rows.tolist(), _strings(database.read("ids", rows)), strict=True))
    labels = dict(zip(rows.tolist(), database.read("labels", rows), strict=True))
    images = _cached_images(args.cache, "database", len(database)) if args.cache else None
    for q, tile in enumerate(tiles):
        print(f"query {tile.caption.splitlines()[0]}")
        distances, indices = found.row(q)
        for rank, (d, i) in enumerate(zip(distances.tolist(), indices.tolist(), strict=True), start=1):
            print(f"{rank:>5}  {ids[i]}  {d}")
    draw_gallery(result_rows(tiles, query_labels, found, images, labels, ids), args.gallery)
    print(f"wrote {args.gallery}")


def _strings(values: object) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]  # type: ignore[attr-defined]


def _cached_images(cache: str, part: str, size: int) -> np.ndarray:
    """The cache stage's images of one part, memory-mapped; its rows must be the codes file's rows."""
    from deephash.data.cache import load_cache

    path = Path(cache) / f"{part}.npy"
    images = load_cache(path)
    if len(images) != size:
        raise DeephashError(f"the cache holds {len(images)} images but the codes file's {part} has {size}", path=path)
    return images


def _stored_query(args: argparse.Namespace, database: CodeStream) -> tuple[np.ndarray, list[Tile], np.ndarray | None]:
    """An item of the codes file, by id (query group first): its stored code, labels and cached image."""
    import numpy as np

    from deephash.gallery import Tile
    from deephash.search import CodeStream

    for part in ("query", "database"):
        stream = database if part == "database" else CodeStream(args.codes, "query")
        ids = _strings(stream.read("ids"))
        if args.query_id in ids:
            row = np.array([ids.index(args.query_id)])
            image = _cached_images(args.cache, part, len(stream))[row[0]] if args.cache else None
            return stream.read("codes", row), [Tile(image, f"{args.query_id}\n{part}")], stream.read("labels", row)
    raise DeephashError(f"no query or database item has the id {args.query_id!r}", path=args.codes)


def _encoded_queries(
    args: argparse.Namespace, database: CodeStream
) -> tuple[np.ndarray, list[Tile], np.ndarray | None]:
    """Image files decoded and resized as the cache stage does, then encoded by the model."""
    import numpy as np

    from deephash.checkpoint import CONFIG_FILE, eval_config, load_model
    from deephash.data.arrays import ImageArrays
    from deephash.data.images import is_image
    from deephash.encoder import prepare_image
    from deephash.gallery import Tile

    if args.model is None:
        raise DeephashError("--model is needed to encode --image or --folder queries")
    if args.folder:
        folder = Path(args.folder)
        if not folder.is_dir():
            raise DeephashError("not a folder", path=folder)
        paths = sorted(p for p in folder.iterdir() if is_image(p.name))
        if not paths:
            raise DeephashError("no image files in the folder", path=folder)
    else:
        paths = [Path(p) for p in args.image]
    network, method, config = load_model(args.model)
    if int(config["bits"]) != database.bits:
        raise DeephashError(
            f"the model makes {config['bits']}-bit codes but the database holds {database.bits}-bit codes",
            path=Path(args.model) / CONFIG_FILE,
        )
    if args.size:
        height = width = args.size
    elif "image_shape" in config:
        height, width = config["image_shape"]
    elif args.cache:
        height, width = _cached_images(args.cache, "database", len(database)).shape[1:3]
    else:
        raise DeephashError("--size (the side the model's images had) or --cache is needed to resize query images")
    images = [prepare_image(path, (height, width, int(config["channels"]))) for path in paths]
    data = ImageArrays(np.stack(images), np.zeros((len(images), int(config["num_classes"])), np.uint8))
    codes = method.encode(network, data, eval_config(config), batch_size=64, desc="encode queries")
    return codes, [Tile(image, path.name) for image, path in zip(images, paths, strict=True)], None


def cmd_export_model(args: argparse.Namespace) -> None:
    from deephash.export_model import RUNTIMES, check_encoder, export_encoder

    meta = export_encoder(args.model, args.out)
    shape = " x ".join(str(n) for n in meta["input"]["shape"])
    print(f"wrote {args.out}: encoder.onnx, encoder.ts (uint8 NHWC [{shape}] -> packed uint8 codes)")
    if args.no_check:
        return
    result = check_encoder(args.model, args.out, args.cache, tolerance=args.tolerance)
    for name in RUNTIMES:
        a = result[name]
        print(
            f"{name}: {a.differing_bits} of {a.bits} bits ({a.differing_codes} of {a.images} codes) differ from"
            f" PyTorch's, {a.near_zero} of them where |u| < {args.tolerance}"
        )


def cmd_serve(args: argparse.Namespace) -> None:
    import time

    from deephash.service import SearchService
    from deephash.web import create_app, serve

    started = time.perf_counter()
    cache = args.cache if args.cache and (Path(args.cache) / "database.npy").exists() else None
    if args.cache and cache is None and args.cache != DEFAULT_CACHE:
        raise DeephashError("no database.npy in the image cache", path=args.cache)
    service = SearchService(args.codes, args.model, cache, args.index, k=args.k)
    create_app(service)  # fails here, in one line, when fastapi is missing
    service.warm()
    seconds = time.perf_counter() - started
    print(
        f"{len(service.index)} codes: index ready in {service.index_seconds * 1000:.0f} ms, service in"
        f" {seconds:.2f} s; serving http://{args.host}:{args.port}/",
        flush=True,
    )
    serve(service, args.host, args.port)


DEFAULT_CACHE = "data/cache"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deephash", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="tracebacks for bad input too (or DEEPHASH_DEBUG=1)")
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

    p = sub.add_parser("search", help="the nearest database codes of query images or an id, with a PNG gallery")
    p.add_argument("--codes", required=True, help="HDF5 codes file: its database group is searched, streamed")
    p.add_argument("--model", help="trained model directory (encodes --image / --folder queries)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--image", nargs="+", help="query image file(s)")
    which.add_argument("--folder", help="a folder of query images")
    which.add_argument("--query-id", help="the id of an item of the codes file (query group, then database)")
    p.add_argument("--cache", help="image cache directory (query.npy, database.npy) for the gallery's pictures")
    p.add_argument("--size", type=int, default=0, help="square side for query images (default: the training shape)")
    p.add_argument("--topk", type=int, default=10, help="results per query (default: %(default)s)")
    p.add_argument("--gallery", default="gallery.png", help="PNG gallery to write (default: %(default)s)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("export-model", help="a trained model as ONNX and TorchScript encoders, checked against PyTorch")
    p.add_argument("--model", required=True, help="trained model directory (models/<key>)")
    p.add_argument("--out", required=True, help="directory to write encoder.onnx, encoder.ts, encoder.json")
    p.add_argument("--cache", default=DEFAULT_CACHE, help="image cache whose query and database images are checked")
    p.add_argument("--tolerance", type=float, default=1e-4, help="|u| below which a flipped bit is allowed")
    p.add_argument("--no-check", action="store_true", help="export only")
    p.set_defaults(func=cmd_export_model)

    p = sub.add_parser("serve", help="a local search page and JSON API over a codes file (FastAPI + uvicorn)")
    p.add_argument("--codes", required=True, help="HDF5 codes file: its database group is the index")
    p.add_argument("--model", help="trained model directory, to encode uploaded images")
    p.add_argument(
        "--cache", default=DEFAULT_CACHE, help="image cache for thumbnails (default: %(default)s if present; '': none)"
    )
    p.add_argument("--index", help="saved index directory: loaded (memory-mapped) if built from --codes, else written")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--k", type=int, default=10, help="results when a request names no k (default: %(default)s)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("datasets", help="the dataset adapters, what each expects on disk, and the split protocols")
    p.set_defaults(func=cmd_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return exit_on_error(lambda: args.func(args), debug=args.debug or debugging([]))

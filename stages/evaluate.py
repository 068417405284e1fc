"""Stage `evaluate@<method>-<bits>-<seed>`: retrieval metrics and collapse diagnostics, PR and P@N curves,
their figure and a gallery."""

from __future__ import annotations

from pathlib import Path

from common import load_params, parser, run, section
from deephash.atomic import write_json, write_text
from deephash.errors import DeephashError


def main() -> None:
    p = parser(__doc__)
    p.add_argument("key", help="<method>-<bits>-<seed>, names the outputs")
    p.add_argument("--seed", type=int, required=True, help="the training seed of the codes (for the figure's title)")
    p.add_argument("--codes", required=True, help="codes file of the export stage")
    p.add_argument("--metrics", required=True, help="metrics JSON (metrics/<key>.json)")
    p.add_argument("--plots", default="plots", help="plots root: pr/, pn/, figures/ and gallery/ under it")
    p.add_argument("--cache", default="data/cache", help="image cache of the codes' query and database lists")
    args = p.parse_args()
    # imported once the arguments parse: --help answers without loading torch, numba or matplotlib
    from deephash.codes import read_codes
    from deephash.config import parse_topk
    from deephash.data.cache import load_cache
    from deephash.diagnostics import bucket_stats
    from deephash.gallery import codes_gallery
    from deephash.metrics import evaluate_codes
    from deephash.report import curve_csv, retrieval_figure

    all_params = load_params(args.params, training=False)
    params = section(all_params, "evaluate")
    topk = parse_topk(params["topk"])
    shown = int(section(all_params, "evaluate.gallery.queries"))
    nearest = int(section(all_params, "evaluate.gallery.topk"))
    if shown < 1 or nearest < 1:
        raise DeephashError(f"evaluate.gallery: queries and topk must be >= 1, got {shown} and {nearest}")
    codes = read_codes(args.codes)
    result = evaluate_codes(codes.query, codes.database, codes.bits, topk=topk, pn=params["pn"])
    result.metrics.update(bucket_stats(codes.database.codes, codes.bits))  # collapse: few, crowded buckets
    write_json(Path(args.metrics), result.metrics)
    plots = Path(args.plots)
    write_text(plots / "pr" / f"{args.key}.csv", curve_csv(result.pr_curve))
    write_text(plots / "pn" / f"{args.key}.csv", curve_csv(result.pn_curve))
    retrieval_figure(
        {args.key: result.pr_curve},
        {args.key: result.pn_curve},
        f"{codes.method}, {codes.bits} bits, seed {args.seed} ({codes.dataset})",
        plots / "figures" / f"{args.key}.png",
    )
    images = {}
    for part, size in (("query", len(codes.query)), ("database", len(codes.database))):
        path = Path(args.cache) / f"{part}.npy"
        images[part] = load_cache(path)
        if len(images[part]) != size:
            raise DeephashError(f"{len(images[part])} cached images for {size} {part} codes", path=path)
    codes_gallery(codes, images["query"], images["database"], shown, nearest, plots / "gallery" / f"{args.key}.png")
    print(f"evaluate {args.key}: " + ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items()))


if __name__ == "__main__":
    run(main)

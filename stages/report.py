"""Stage `report`: every method x bits in one nested metrics file, one Markdown table and the figures."""

from __future__ import annotations

from pathlib import Path

from common import check_bits, load_params, parser, run, section
from deephash.atomic import atomic_path, write_json, write_text
from deephash.errors import DeephashError
from deephash.methods import method_class
from deephash.report import (
    comparison_table,
    metric_vs_bits_csv,
    metric_vs_bits_figure,
    nested_metrics,
    read_curve_csv,
    read_metrics,
    retrieval_figure,
)

CENTER_KEYS = ("s_loss", "min_distance", "d")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--metrics", default="metrics", help="evaluate's <key>.json and the centres' centers/<key>.json")
    p.add_argument("--plots", default="plots", help="evaluate's curves: pr/<key>.csv and pn/<key>.csv")
    p.add_argument("--out", default="report", help="output directory (default: %(default)s)")
    args = p.parse_args()
    params = load_params(args.params)
    methods = list(section(params, "methods"))
    bits = [check_bits(b) for b in section(params, "bits")]
    columns = list(section(params, "report.metrics"))
    curve_metric = str(section(params, "report.curve_metric"))
    if not methods or not bits or not columns:
        raise DeephashError("methods, bits and report.metrics must each name at least one entry")
    metrics, plots, out = Path(args.metrics), Path(args.plots), Path(args.out)
    needed = list(dict.fromkeys([*columns, curve_metric]))  # the nested file keeps these only: a readable exp show

    def pick(path: Path) -> dict[str, float]:
        found = read_metrics(path, needed)
        return {k: found[k] for k in needed}

    results = {m: {b: pick(metrics / f"{m}-{b}.json") for b in bits} for m in methods}
    centred = [m for m in methods if method_class(m).prestage == "centers"]
    centres = {m: {b: read_metrics(metrics / "centers" / f"{m}-{b}.json", CENTER_KEYS) for b in bits} for m in centred}

    nested = nested_metrics(results)
    for method, by_bits in centres.items():
        for b, report in by_bits.items():
            nested[method][f"b{b}"]["centers_s_loss"] = report["s_loss"]
    write_json(out / "metrics.json", nested)
    table = "## Retrieval\n\n" + comparison_table(results, bits, columns)
    if centres:
        table += "\n## Hash centres: fit to S (S_loss, lower is better)\n\n"
        table += comparison_table(centres, bits, ["s_loss"], lower_is_better=True)
        table += "\n## Hash centres: minimum pairwise Hamming distance (higher is better)\n\n"
        table += comparison_table(centres, bits, ["min_distance"])
    write_text(out / "table.md", table)
    write_text(out / "map_vs_bits.csv", metric_vs_bits_csv(results, bits, curve_metric))
    with atomic_path(out / "figures", directory=True) as figures:
        for b in bits:
            pr = {m: read_curve_csv(plots / "pr" / f"{m}-{b}.csv") for m in methods}
            pn = {m: read_curve_csv(plots / "pn" / f"{m}-{b}.csv") for m in methods}
            retrieval_figure(pr, pn, f"{b} bits", figures / f"pr-{b}.png")
        metric_vs_bits_figure(results, bits, curve_metric, figures / "metric-vs-bits.png")
    print(table)


if __name__ == "__main__":
    run(main)

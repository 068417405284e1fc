"""Stage `report`: every method x bits over the seeds (mean ± sd, n) in a Markdown table, the headline
metric as DVC's metrics file, the full summary with per-seed values beside it, and the figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import check_bits, load_params, parser, run, section
from deephash.atomic import atomic_path, write_json, write_text
from deephash.errors import DeephashError

if TYPE_CHECKING:
    from deephash.report import Stat, Stats

CENTER_KEYS = ("s_loss", "min_distance", "d")
DIAGNOSTICS = ("distinct_codes", "largest_bucket", "bit_imbalance")  # the keys of bucket_stats
SELECTION = ("selected_epoch", "epochs")  # the train stage's record of the epoch it kept
DEGENERATE = 0.2  # a largest bucket above this share of the database (in any seed) flags the cell


def legend(n: int, degenerate: bool, below: bool, floors: list[str]) -> str:
    lines = [
        f"Mean ± sample sd over n = {n} seeds." if n > 1 else "One seed (n = 1): no sd, so no best is marked.",
        "**Bold**: the column's best, ahead of every other method by more than the larger of their two sds;"
        " _italics_: tied for best (within that margin of the best mean).",
    ]
    if degenerate:
        lines.append(
            f"†: degenerate codes: in at least one seed more than {DEGENERATE:.0%} of the database shares one code."
        )
    if below:
        lines.append(f"‡: below the trivial floor: a lower mean than the best of {' / '.join(floors)} in that column.")
    return "\n".join(lines) + "\n"


def headline(stats: Stats, metric: str, n: int) -> dict[str, Any]:
    """What ``dvc exp show`` compares: n, then ``{method}.b{bits}.{metric}`` and its sd (for n > 1)."""
    out: dict[str, Any] = {"n": n}
    for method, by_bits in stats.items():
        out[method] = {}
        for b, cells in by_bits.items():
            cell = cells[metric]
            out[method][f"b{b}"] = {metric: cell.mean, **({f"{metric}_sd": cell.sd} if cell.sd is not None else {})}
    return out


def summary(stats: Stats, per_seed: dict[str, dict[int, dict[int, dict[str, float]]]]) -> dict[str, Any]:
    """Every reported number: mean, sd and n per method x bits, the per-seed values beside them."""

    def cell(cells: dict[str, Stat], seeds: dict[int, dict[str, float]]) -> dict[str, Any]:
        return {
            "n": len(seeds),
            "mean": {k: c.mean for k, c in cells.items()},
            "sd": {k: c.sd for k, c in cells.items()},
            "seeds": {str(s): values for s, values in seeds.items()},
        }

    return {m: {f"b{b}": cell(dict(stats[m][b]), per_seed[m][b]) for b in stats[m]} for m in stats}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--metrics", default="metrics", help="evaluate's <key>.json and the pre-stages' prestage/<key>.json")
    p.add_argument("--plots", default="plots", help="evaluate's curves: pr/<key>.csv and pn/<key>.csv")
    p.add_argument("--out", default="report", help="output directory (default: %(default)s)")
    args = p.parse_args()
    # imported once the arguments parse: --help answers without loading numpy or matplotlib
    from deephash.report import (
        comparison_table,
        exact_stats,
        mean_curve,
        metric_vs_bits_csv,
        metric_vs_bits_figure,
        read_curve_csv,
        read_metrics,
        retrieval_figure,
        summarize,
    )

    params = load_params(args.params, training=False)  # the train stages checked their sections
    methods = list(section(params, "methods"))
    bits = [check_bits(b) for b in section(params, "bits")]
    seeds = [int(s) for s in section(params, "seeds")]
    columns = list(section(params, "report.metrics"))
    curve_metric = str(section(params, "report.curve_metric"))
    if not methods or not bits or not seeds or not columns:
        raise DeephashError("methods, bits, seeds and report.metrics must each name at least one entry")
    if len(set(seeds)) != len(seeds):
        raise DeephashError(f"seeds: {seeds} repeats a seed")
    metrics, plots, out = Path(args.metrics), Path(args.plots), Path(args.out)
    needed = list(dict.fromkeys([*columns, curve_metric, *DIAGNOSTICS]))

    def pick(key: str) -> dict[str, float]:
        found = read_metrics(metrics / f"{key}.json", needed)
        return {k: found[k] for k in needed}

    per_seed = {m: {b: {s: pick(f"{m}-{b}-{s}") for s in seeds} for b in bits} for m in methods}
    stats = summarize(per_seed, needed)
    degenerate = {
        (m, b) for m in methods for b in bits if any(v["largest_bucket"] > DEGENERATE for v in per_seed[m][b].values())
    }
    trained = {
        m: {b: {s: read_metrics(metrics / "train" / f"{m}-{b}-{s}.json", SELECTION) for s in seeds} for b in bits}
        for m in methods
    }
    floors = [m for m in methods if trained[m][bits[0]][seeds[0]].get("floor")]
    below = {
        (m, b, c)
        for m in methods
        for b in bits
        for c in columns
        if floors and m not in floors and stats[m][b][c].mean < max(stats[f][b][c].mean for f in floors)
    }
    flags = {(m, b, c): "‡" for m, b, c in below}
    flags |= {(m, b, c): (flags.get((m, b, c), "") + " †").strip() for m, b in degenerate for c in needed}
    prestages = {
        m: {b: read_metrics(metrics / "prestage" / f"{m}-{b}.json", ["prestage"]) for b in bits} for m in methods
    }
    centred = [m for m in methods if prestages[m][bits[0]]["prestage"] == "centers"]
    centres = exact_stats({m: {b: {k: prestages[m][b][k] for k in CENTER_KEYS} for b in bits} for m in centred})

    write_json(out / "metrics.json", headline(stats, curve_metric, len(seeds)))
    full = summary(stats, per_seed)
    for m, by_bits in centres.items():
        for b, cells in by_bits.items():
            full[m][f"b{b}"]["centers"] = {k: c.mean for k, c in cells.items()}
    write_json(out / "summary.json", full)
    table = "## Retrieval\n\n" + comparison_table(stats, bits, columns, flags=flags)
    table += "\n" + legend(len(seeds), bool(degenerate), bool(below), floors)
    table += "\n## Collapse diagnostics of the database codes\n\n"
    table += comparison_table(stats, bits, DIAGNOSTICS, show_n=False, rank=False, flags=flags)
    table += "\n## Epochs: the one kept (best validation mAP, or the last) and the budget\n\n"
    table += comparison_table(summarize(trained, SELECTION), bits, SELECTION, show_n=False, rank=False)
    if centres:
        table += "\n## Hash centres: fit to S (S_loss, lower is better)\n\n"
        table += comparison_table(centres, bits, ["s_loss"], lower_is_better=True, show_n=False)
        table += "\n## Hash centres: minimum pairwise Hamming distance (higher is better)\n\n"
        table += comparison_table(centres, bits, ["min_distance"], show_n=False)
    write_text(out / "table.md", table)
    write_text(out / "map_vs_bits.csv", metric_vs_bits_csv(stats, bits, curve_metric))
    with atomic_path(out / "figures", directory=True) as figures:
        for b in bits:
            curves = {
                kind: {
                    m: mean_curve([read_curve_csv(plots / kind / f"{m}-{b}-{s}.csv") for s in seeds]) for m in methods
                }
                for kind in ("pr", "pn")
            }
            retrieval_figure(
                curves["pr"], curves["pn"], f"{b} bits (mean over {len(seeds)} seeds)", figures / f"pr-{b}.png"
            )
        metric_vs_bits_figure(stats, bits, curve_metric, figures / "metric-vs-bits.png")
    print(table)


if __name__ == "__main__":
    run(main)

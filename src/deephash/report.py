"""Figures and tables: the similarity heatmap, PR and P@N figures, and the comparison report over seeds."""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from deephash.atomic import atomic_path
from deephash.errors import DeephashError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same figure, same bytes

#: results[method][bits] = that key's metrics (or any per-key numbers, e.g. a centres report)
Results = Mapping[str, Mapping[int, Mapping[str, float]]]


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, imported at the first figure: ~1 s that the tables and
    the curves' CSV files do not pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata=PNG_METADATA)
    pyplot().close(fig)


def similarity_heatmap(similarity: np.ndarray, classes: Sequence[str], path: str | Path) -> None:
    """S as an image that fits a page (at most 10 x 8.5 inches); class names on the axes up to 60 classes."""
    num = len(classes)
    side = min(4 + 0.12 * num, 10)
    fig, ax = pyplot().subplots(figsize=(side, side * 0.85))
    image = ax.imshow(similarity, cmap="RdBu_r", vmin=-1, vmax=1)
    if num <= 60:
        size = 8 if num <= 40 else 6
        ax.set_xticks(range(num), classes, rotation=90, fontsize=size)
        ax.set_yticks(range(num), classes, fontsize=size)
    ax.set_title("class similarity S (SHC stage 1)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    save_figure(fig, path)


def retrieval_figure(
    pr_curves: Mapping[str, Sequence[Mapping[str, float]]],
    pn_curves: Mapping[str, Sequence[Mapping[str, float]]],
    title: str,
    path: str | Path,
) -> None:
    """PR by Hamming radius (left) and P@N (right), one line per label (method or key)."""
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(10, 4))
    for label, curve in pr_curves.items():
        left.plot([p["recall"] for p in curve], [p["precision"] for p in curve], marker=".", label=label)
    left.set(xlabel="recall", ylabel="precision", title="PR by Hamming radius", xlim=(0, 1), ylim=(0, 1.02))
    for label, curve in pn_curves.items():
        right.plot([p["n"] for p in curve], [p["precision"] for p in curve], marker=".", label=label)
    right.set(xlabel="N (top-N retrieved)", ylabel="precision", title="P@N", xscale="log", ylim=(0, 1.02))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def curve_csv(points: Sequence[Mapping[str, float]]) -> str:
    """A list of equal-keyed points as CSV text (what ``dvc plots`` reads)."""
    if not points:
        return ""
    columns = list(points[0])
    lines = [",".join(columns)]
    lines += [",".join(_number(p[c]) for c in columns) for p in points]
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1 else f"{value:.6g}"


def read_curve_csv(path: str | Path) -> list[dict[str, float]]:
    """The points of a curve file written by ``curve_csv``."""
    path = Path(path)
    if not path.exists():
        raise DeephashError("curve file not found", path=path)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    points = []
    for line, row in enumerate(rows, start=2):
        try:
            points.append({k: float(v) for k, v in row.items()})
        except (TypeError, ValueError):
            raise DeephashError(f"not a number in {row}", path=path, line=line) from None
    return points


def read_metrics(path: str | Path, required: Sequence[str] = ()) -> dict[str, float]:
    """A flat JSON object of numbers (a metrics file), checked to hold the ``required`` keys."""
    path = Path(path)
    if not path.exists():
        raise DeephashError("metrics file not found (did its stage run?)", path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DeephashError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise DeephashError("expected a JSON object", path=path)
    missing = [k for k in required if k not in data]
    if missing:
        raise DeephashError(f"no {missing[0]!r} (it has: {', '.join(data)})", path=path)
    return data


@dataclass(frozen=True)
class Stat:
    """One table cell: the mean over ``n`` seeds and their sample sd (None when n = 1: unknown).

    A deterministic value (a centres report: no seed axis) is ``Stat(value, 0.0, 1)``, exact.
    """

    mean: float
    sd: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stat:
        if not values:
            raise ValueError("no values to summarise")
        n = len(values)  # statistics' exact sums: equal values give sd 0.0, the same bytes on every machine
        return cls(statistics.fmean(values), statistics.stdev(values) if n > 1 else None, n)

    @classmethod
    def exact(cls, value: float) -> Stat:
        return cls(float(value), 0.0, 1)


#: stats[method][bits][metric]: one cell each
Stats = Mapping[str, Mapping[int, Mapping[str, Stat]]]


def summarize(per_seed: Mapping[str, Mapping[int, Mapping[int, Mapping[str, float]]]], keys: Sequence[str]) -> Stats:
    """``per_seed[method][bits][seed][metric]`` -> mean, sd and n over the seeds of each ``keys`` metric."""
    return {
        m: {b: {k: Stat.of([seeds[s][k] for s in seeds]) for k in keys} for b, seeds in by_bits.items()}
        for m, by_bits in per_seed.items()
    }


def exact_stats(results: Results) -> Stats:
    return {
        m: {b: {k: Stat.exact(v) for k, v in row.items()} for b, row in by_bits.items()}
        for m, by_bits in results.items()
    }


def rank_column(cells: Mapping[str, Stat], lower_is_better: bool = False) -> dict[str, str]:
    """``best``, ``tie`` or ``""`` per method of one column.

    The method with the best mean is the column's best only if it beats every other method by more
    than the larger of their two sds (|mean_a - mean_b| > max(sd_a, sd_b)); the methods within that
    margin of it are tied with it, and then the best and those are all marked ``tie``. Nothing is
    marked when any sd is unknown (one seed gives no sd, so no difference can be told from noise).
    Exact values (sd 0) reduce to "the strict best; equal values tie".
    """
    if len(cells) < 2 or any(c.sd is None for c in cells.values()):
        return dict.fromkeys(cells, "")
    sign = -1.0 if lower_is_better else 1.0
    best = max(cells, key=lambda m: sign * cells[m].mean)
    top = cells[best]
    tied = [m for m, c in cells.items() if m != best and abs(top.mean - c.mean) <= max(top.sd or 0.0, c.sd or 0.0)]
    marks = dict.fromkeys(cells, "")
    for m in tied:
        marks[m] = "tie"
    marks[best] = "tie" if tied else "best"
    return marks


def comparison_table(
    stats: Stats,
    bits: Sequence[int],
    columns: Sequence[str],
    lower_is_better: bool = False,
    show_n: bool = True,
    rank: bool = True,
    flags: Mapping[tuple[str, int, str], str] = MappingProxyType({}),
) -> str:
    """Markdown: methods as rows, (bits, column) as columns, mean ± sd per cell; a column's clear
    best in bold, methods tied for best in italics (``rank_column``; none when not ``rank``); a cell
    (method, bits, column) in ``flags`` carries its mark after the value (the legend says what it
    means). Values are shown to 4 decimals (integers as such)."""
    keys = [(b, c) for b in bits for c in columns]
    marks = {
        k: rank_column({m: stats[m][k[0]][k[1]] for m in stats}, lower_is_better) if rank else dict.fromkeys(stats, "")
        for k in keys
    }
    style = {"best": "**{}**", "tie": "_{}_", "": "{}"}
    head = "| method | " + ("n | " if show_n else "") + " | ".join(f"{c} ({b} bits)" for b, c in keys) + " |"
    lines = [head, "|---|" + "---:|" * (len(keys) + show_n)]
    for method in stats:
        cells = []
        for k in keys:
            text = style[marks[k][method]].format(_stat_cell(stats[method][k[0]][k[1]]))
            mark = flags.get((method, *k), "")
            cells.append(f"{text} {mark}" if mark else text)
        n = "/".join(str(v) for v in sorted({stats[method][b][c].n for b, c in keys}))
        lines.append(f"| {method} | " + (f"{n} | " if show_n else "") + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _stat_cell(stat: Stat) -> str:
    return f"{_cell(stat.mean)} ± {stat.sd:.4f}" if stat.n > 1 and stat.sd is not None else _cell(stat.mean)


def _cell(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def mean_curve(curves: Sequence[Sequence[Mapping[str, float]]]) -> list[dict[str, float]]:
    """The pointwise mean of curves of equal length and keys (one per seed)."""
    if not curves or any(len(c) != len(curves[0]) for c in curves):
        raise DeephashError(f"curves of lengths {[len(c) for c in curves]} cannot be averaged")
    return [{k: float(np.mean([c[i][k] for c in curves])) for k in curves[0][i]} for i in range(len(curves[0]))]


def metric_vs_bits_csv(stats: Stats, bits: Sequence[int], metric: str) -> str:
    """One row per code length, one column of means per method (what the metric-vs-bits plot reads)."""
    points = [{"bits": b, **{m: stats[m][b][metric].mean for m in stats}} for b in bits]
    return curve_csv(points)


def metric_vs_bits_figure(stats: Stats, bits: Sequence[int], metric: str, path: str | Path) -> None:
    """Means with their sd as error bars (none for one seed)."""
    fig, ax = pyplot().subplots(figsize=(5, 4))
    for method in stats:
        cells = [stats[method][b][metric] for b in bits]
        ax.errorbar(
            bits, [c.mean for c in cells], yerr=[c.sd or 0.0 for c in cells], marker="o", capsize=3, label=method
        )
    ax.set(xlabel="bits", ylabel=metric, title=f"{metric} by code length", xticks=list(bits))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)

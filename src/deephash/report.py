"""Figures and tables: the similarity heatmap, PR and P@N figures, and the comparison report."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from deephash.atomic import atomic_path
from deephash.errors import DeephashError

PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same figure, same bytes

#: results[method][bits] = that key's metrics (or any per-key numbers, e.g. a centres report)
Results = Mapping[str, Mapping[int, Mapping[str, float]]]


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def similarity_heatmap(similarity: np.ndarray, classes: Sequence[str], path: str | Path) -> None:
    num = len(classes)
    side = min(4 + 0.25 * num, 30)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    image = ax.imshow(similarity, cmap="RdBu_r", vmin=-1, vmax=1)
    if num <= 60:
        ax.set_xticks(range(num), classes, rotation=90, fontsize=8)
        ax.set_yticks(range(num), classes, fontsize=8)
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
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
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


def nested_metrics(results: Results) -> dict[str, dict[str, dict[str, float]]]:
    """``{method: {b<bits>: metrics}}``: one file whose columns read ``shc.b64.map@all`` in ``dvc exp show``."""
    return {method: {f"b{bits}": dict(m) for bits, m in by_bits.items()} for method, by_bits in results.items()}


def comparison_table(
    results: Results, bits: Sequence[int], columns: Sequence[str], lower_is_better: bool = False
) -> str:
    """Markdown: methods as rows, (bits, column) as columns, the best of each column in bold.

    Values are shown to 4 decimals (integers as such) and every value that ties the best as shown is bold.
    """
    keys = [(b, c) for b in bits for c in columns]
    shown = {m: {k: _cell(results[m][k[0]][k[1]]) for k in keys} for m in results}
    pick = min if lower_is_better else max
    best = {k: pick(float(shown[m][k]) for m in results) for k in keys}
    lines = [
        "| method | " + " | ".join(f"{c} ({b} bits)" for b, c in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for method in results:
        cells = [f"**{shown[method][k]}**" if float(shown[method][k]) == best[k] else shown[method][k] for k in keys]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def metric_vs_bits_csv(results: Results, bits: Sequence[int], metric: str) -> str:
    """One row per code length, one column per method (what the mAP-vs-bits plot reads)."""
    points = [{"bits": b, **{m: results[m][b][metric] for m in results}} for b in bits]
    return curve_csv(points)


def metric_vs_bits_figure(results: Results, bits: Sequence[int], metric: str, path: str | Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 4))
    for method in results:
        ax.plot(bits, [results[method][b][metric] for b in bits], marker="o", label=method)
    ax.set(xlabel="bits", ylabel=metric, title=f"{metric} by code length", xticks=list(bits))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)

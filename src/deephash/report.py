"""Figures and tables: the similarity heatmap, PR and P@N figures, and the comparison report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from deephash.atomic import atomic_path

PNG_METADATA = {"Software": None}  # no matplotlib version in the file: same figure, same bytes


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

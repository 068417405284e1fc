"""The comparison report: mean ± sd over seeds, the best marked only beyond the sds, the headline
metrics file, curves, figures, and the stage."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from deephash.errors import DeephashError
from deephash.report import (
    Stat,
    comparison_table,
    curve_csv,
    exact_stats,
    mean_curve,
    metric_vs_bits_csv,
    metric_vs_bits_figure,
    rank_column,
    read_curve_csv,
    read_metrics,
    similarity_heatmap,
    summarize,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = {
    "shc": {16: {"map@100": 0.9, "map@all": 0.8}, 32: {"map@100": 0.95, "map@all": 0.91}},
    "csq": {16: {"map@100": 0.9, "map@all": 0.85}, 32: {"map@100": 0.97, "map@all": 0.90}},
}
# per seed: shc 0.80 / 0.90 (mean 0.85, sd 0.0707); csq 0.60 / 0.62 (mean 0.61, sd 0.0141); lsh 0.84 / 0.86
PER_SEED = {
    "shc": {16: {0: {"map@all": 0.80}, 1: {"map@all": 0.90}}},
    "csq": {16: {0: {"map@all": 0.60}, 1: {"map@all": 0.62}}},
    "lsh": {16: {0: {"map@all": 0.84}, 1: {"map@all": 0.86}}},
}


def test_mean_and_sample_sd_equal_the_per_seed_values():
    stats = summarize(PER_SEED, ["map@all"])
    cell = stats["shc"][16]["map@all"]
    assert cell.n == 2 and cell.mean == pytest.approx(0.85) and cell.sd == pytest.approx(np.std([0.8, 0.9], ddof=1))
    assert Stat.of([0.5]) == Stat(0.5, None, 1)


def test_best_is_marked_only_beyond_the_larger_sd():
    def stat(mean, sd):
        return Stat(mean, sd, 3)

    assert rank_column({"a": stat(0.9, 0.01), "b": stat(0.8, 0.02)}) == {"a": "best", "b": ""}
    # 0.9 - 0.85 = 0.05 <= max(0.01, 0.06): a tie, both marked so; c is 0.3 behind: unmarked
    assert rank_column({"a": stat(0.9, 0.01), "b": stat(0.85, 0.06), "c": stat(0.6, 0.01)}) == {
        "a": "tie",
        "b": "tie",
        "c": "",
    }
    assert rank_column({"a": stat(0.1, 0.0), "b": stat(0.2, 0.0)}, lower_is_better=True) == {"a": "best", "b": ""}
    assert rank_column({"a": Stat.exact(1), "b": Stat.exact(1)}) == {"a": "tie", "b": "tie"}
    # one seed: no sd, nothing can be told from noise
    assert rank_column({"a": Stat(0.9, None, 1), "b": Stat(0.1, None, 1)}) == {"a": "", "b": ""}


def test_table_shows_mean_sd_n_marks_and_flags():
    table = comparison_table(summarize(PER_SEED, ["map@all"]), [16], ["map@all"], flags={("csq", 16, "map@all"): "†"})
    lines = table.strip().splitlines()
    assert lines[0] == "| method | n | map@all (16 bits) |"
    assert lines[2] == "| shc | 2 | _0.8500 ± 0.0707_ |"  # 0.85 vs lsh's 0.85: within sd, a tie
    assert lines[3] == "| csq | 2 | 0.6100 ± 0.0141 † |"
    assert lines[4] == "| lsh | 2 | _0.8500 ± 0.0141_ |"


def test_deterministic_table_lower_is_better():
    table = comparison_table(
        exact_stats({"a": {16: {"s_loss": 0.1}}, "b": {16: {"s_loss": 0.2}}}), [16], ["s_loss"], True, False
    )
    assert "| a | **0.1000** |" in table and "| b | 0.2000 |" in table


def test_mean_curve_is_pointwise_and_refuses_unequal_lengths():
    a = [{"n": 1, "precision": 1.0}, {"n": 10, "precision": 0.5}]
    b = [{"n": 1, "precision": 0.0}, {"n": 10, "precision": 0.7}]
    assert mean_curve([a, b]) == [{"n": 1.0, "precision": 0.5}, {"n": 10.0, "precision": pytest.approx(0.6)}]
    with pytest.raises(DeephashError, match="cannot be averaged"):
        mean_curve([a, a[:1]])


def test_metric_vs_bits_csv_has_a_column_per_method():
    assert metric_vs_bits_csv(exact_stats(RESULTS), [16, 32], "map@all") == "bits,shc,csq\n16,0.8,0.85\n32,0.91,0.9\n"


def test_curve_csv_round_trip_and_errors(tmp_path):
    points = [{"radius": 0, "precision": 0.5, "recall": 0.25}, {"radius": 1, "precision": 0.4, "recall": 1}]
    (tmp_path / "pr.csv").write_text(curve_csv(points))
    assert read_curve_csv(tmp_path / "pr.csv") == [{k: float(v) for k, v in p.items()} for p in points]
    (tmp_path / "bad.csv").write_text("radius,precision\n0,0.5\n1,oops\n")
    with pytest.raises(DeephashError, match=r"bad\.csv:3: not a number"):
        read_curve_csv(tmp_path / "bad.csv")
    with pytest.raises(DeephashError, match="curve file not found"):
        read_curve_csv(tmp_path / "missing.csv")


def test_read_metrics_names_the_file_and_the_problem(tmp_path):
    path = tmp_path / "m.json"
    with pytest.raises(DeephashError, match=r"m\.json: metrics file not found"):
        read_metrics(path)
    path.write_text('{"map@100": 0.5,\n oops}')
    with pytest.raises(DeephashError, match=r"m\.json:2: not valid JSON"):
        read_metrics(path)
    path.write_text('{"map@100": 0.5}')
    with pytest.raises(DeephashError, match=r"no 'map@all' \(it has: map@100\)"):
        read_metrics(path, ["map@all"])
    assert read_metrics(path, ["map@100"]) == {"map@100": 0.5}


def test_figures_are_byte_identical_across_runs(tmp_path):
    stats = summarize(PER_SEED, ["map@all"])
    metric_vs_bits_figure(stats, [16], "map@all", tmp_path / "a.png")
    metric_vs_bits_figure(stats, [16], "map@all", tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_similarity_heatmap_fits_a_page(tmp_path):
    similarity_heatmap(np.eye(100), [str(i) for i in range(100)], tmp_path / "S.png")
    width, height = Image.open(tmp_path / "S.png").size
    assert width <= 1000 and height <= 850  # 10 x 8.5 inches at 100 dpi


def fake_outputs(root: Path, methods: list[str], bits: list[int], seeds: list[int]) -> None:
    (root / "metrics" / "prestage").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / "train").mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(methods):
        for b in bits:
            centres = {"prestage": "centers", "s_loss": 0.1 * (i + 1), "min_distance": b // 2, "d": b // 3}
            (root / "metrics" / "prestage" / f"{m}-{b}.json").write_text(
                json.dumps(centres if m == "shc" else {"prestage": None})
            )
            for s in seeds:
                metrics = {"map@100": 0.5 + i / 10 + s / 100, "map@all": 0.4 + b / 1000, "p@1": 1.0}
                metrics |= {"distinct_codes": 50.0, "largest_bucket": 0.5 if m == "hashnet" else 0.01}
                metrics["bit_imbalance"] = 0.1
                (root / "metrics" / f"{m}-{b}-{s}.json").write_text(json.dumps(metrics))
                selection = {"selected_epoch": 10 + s, "epochs": 20, "select": "best_val", "floor": m == "lsh"}
                (root / "metrics" / "train" / f"{m}-{b}-{s}.json").write_text(json.dumps(selection))
                for kind, rows in (("pr", "radius,precision,recall\n0,1,0.5\n"), ("pn", "n,precision\n1,1\n")):
                    (root / "plots" / kind).mkdir(parents=True, exist_ok=True)
                    (root / "plots" / kind / f"{m}-{b}-{s}.csv").write_text(rows)


def run_stage(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "report.py"), "--out", "report"],
        cwd=root,
        capture_output=True,
        text=True,
    )


def test_report_stage(tmp_path):
    methods, bits, seeds = ["shc", "hashnet", "lsh"], [16, 32], [0, 1, 2]
    params = {
        "methods": methods,
        "bits": bits,
        "seeds": seeds,
        "report": {"metrics": ["map@100"], "curve_metric": "map@all"},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    fake_outputs(tmp_path, methods, bits, seeds)
    out = run_stage(tmp_path)
    assert out.returncode == 0, out.stderr
    headline = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert headline["n"] == 3 and set(headline) == {"n", "shc", "hashnet", "lsh"}
    assert headline["shc"]["b16"] == pytest.approx({"map@all": 0.416, "map@all_sd": 0.0})  # only the headline
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    cell = summary["shc"]["b16"]
    assert cell["n"] == 3 and cell["mean"]["map@100"] == pytest.approx(0.51)
    assert cell["sd"]["map@100"] == pytest.approx(0.01)
    assert [cell["seeds"][s]["map@100"] for s in "012"] == pytest.approx([0.5, 0.51, 0.52])
    assert cell["centers"]["s_loss"] == pytest.approx(0.1) and "centers" not in summary["hashnet"]["b16"]
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| lsh | 3 | **0.7100 ± 0.0100** | **0.7100 ± 0.0100** |" in table  # 0.1 ahead, sd 0.01
    # below the floor (lsh) is flagged beside the degenerate mark; the floor itself never is
    assert "| hashnet | 3 | 0.6100 ± 0.0100 ‡ † | 0.6100 ± 0.0100 ‡ † |" in table
    assert "| shc | 3 | 0.5100 ± 0.0100 ‡ | 0.5100 ± 0.0100 ‡ |" in table
    assert "†: degenerate" in table and "‡: below the trivial floor: a lower mean than the best of lsh" in table
    assert "over n = 3 seeds" in table
    assert "| shc | 11 ± 1.0000 | 20 ± 0.0000 | 11 ± 1.0000 | 20 ± 0.0000 |" in table  # the kept epoch over seeds
    assert table.count("| hashnet |") == 3 and table.count("| shc |") == 5  # centres tables: centre methods only
    assert sorted(p.name for p in (tmp_path / "report" / "figures").iterdir()) == [
        "metric-vs-bits.png",
        "pr-16.png",
        "pr-32.png",
    ]
    (tmp_path / "metrics" / "hashnet-32-1.json").unlink()
    out = run_stage(tmp_path)
    assert out.returncode == 2 and "hashnet-32-1.json: metrics file not found" in out.stderr

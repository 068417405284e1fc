"""The comparison report: table with the best in bold, nested metrics, curves, figures, and the stage."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deephash.errors import DeephashError
from deephash.report import (
    comparison_table,
    curve_csv,
    metric_vs_bits_csv,
    metric_vs_bits_figure,
    nested_metrics,
    read_curve_csv,
    read_metrics,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = {
    "shc": {16: {"map@100": 0.9, "map@all": 0.8}, 32: {"map@100": 0.95, "map@all": 0.91}},
    "csq": {16: {"map@100": 0.9, "map@all": 0.85}, 32: {"map@100": 0.97, "map@all": 0.90}},
}


def test_table_has_methods_as_rows_and_the_best_of_each_column_in_bold():
    table = comparison_table(RESULTS, [16, 32], ["map@100", "map@all"])
    lines = table.strip().splitlines()
    assert lines[0] == "| method | map@100 (16 bits) | map@all (16 bits) | map@100 (32 bits) | map@all (32 bits) |"
    assert lines[2] == "| shc | **0.9000** | 0.8000 | 0.9500 | **0.9100** |"  # 16-bit map@100 is a tie: both bold
    assert lines[3] == "| csq | **0.9000** | **0.8500** | **0.9700** | 0.9000 |"


def test_table_lower_is_better():
    table = comparison_table({"a": {16: {"s_loss": 0.1}}, "b": {16: {"s_loss": 0.2}}}, [16], ["s_loss"], True)
    assert "| a | **0.1000** |" in table and "| b | 0.2000 |" in table


def test_nested_metrics_keys_read_method_bits_metric():
    nested = nested_metrics(RESULTS)
    assert nested["csq"]["b32"]["map@all"] == 0.90 and set(nested) == {"shc", "csq"}


def test_metric_vs_bits_csv_has_a_column_per_method():
    assert metric_vs_bits_csv(RESULTS, [16, 32], "map@all") == "bits,shc,csq\n16,0.8,0.85\n32,0.91,0.9\n"


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
    metric_vs_bits_figure(RESULTS, [16, 32], "map@all", tmp_path / "a.png")
    metric_vs_bits_figure(RESULTS, [16, 32], "map@all", tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def fake_outputs(root: Path, methods: list[str], bits: list[int]) -> None:
    for i, m in enumerate(methods):
        for b in bits:
            metrics = {"map@100": 0.5 + i / 10, "map@all": 0.4 + b / 1000, "p@1": 1.0}
            (root / "metrics" / "centers").mkdir(parents=True, exist_ok=True)
            (root / "metrics" / f"{m}-{b}.json").write_text(json.dumps(metrics))
            (root / "metrics" / "centers" / f"{m}-{b}.json").write_text(
                json.dumps({"s_loss": 0.1 * (i + 1), "min_distance": b // 2, "d": b // 3})
            )
            for kind, rows in (("pr", "radius,precision,recall\n0,1,0.5\n"), ("pn", "n,precision\n1,1\n")):
                (root / "plots" / kind).mkdir(parents=True, exist_ok=True)
                (root / "plots" / kind / f"{m}-{b}.csv").write_text(rows)


def run_stage(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "stages" / "report.py"), "--out", "report"],
        cwd=root,
        capture_output=True,
        text=True,
    )


def test_report_stage(tmp_path):
    methods, bits = ["shc", "hashnet"], [16, 32]
    params = {"methods": methods, "bits": bits, "report": {"metrics": ["map@100"], "curve_metric": "map@all"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    fake_outputs(tmp_path, methods, bits)
    out = run_stage(tmp_path)
    assert out.returncode == 0, out.stderr
    nested = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert nested["shc"]["b16"] == pytest.approx({"map@100": 0.5, "map@all": 0.416, "centers_s_loss": 0.1})  # no p@1
    assert "centers_s_loss" not in nested["hashnet"]["b16"]
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| hashnet | **0.6000** | **0.6000** |" in table  # only centre methods in the centres tables
    assert table.count("| hashnet |") == 1 and table.count("| shc |") == 3
    assert sorted(p.name for p in (tmp_path / "report" / "figures").iterdir()) == [
        "metric-vs-bits.png",
        "pr-16.png",
        "pr-32.png",
    ]
    (tmp_path / "metrics" / "hashnet-32.json").unlink()
    out = run_stage(tmp_path)
    assert out.returncode == 2 and "hashnet-32.json: metrics file not found" in out.stderr

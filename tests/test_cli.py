import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_similarity

from deephash.cli import main
from deephash.codes import CodeSet, CodesFile, pack_codes, write_codes

ROOT = Path(__file__).resolve().parents[1]
#: the stage scripts dvc.yaml runs (stages/ also holds modules they import, such as common.py)
STAGES = sorted(set(re.findall(r"python stages/(\w+\.py)", (ROOT / "dvc.yaml").read_text())))


def test_module_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "deephash", "--help"], capture_output=True, text=True, check=True)
    assert "centers" in out.stdout and "evaluate" in out.stdout


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_help(stage):
    out = subprocess.run(
        [sys.executable, str(ROOT / "stages" / stage), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_centers_command(tmp_path, capsys):
    s = synthetic_similarity(12)
    np.save(tmp_path / "S.npy", s)
    assert (
        main(["centers", "--similarity", str(tmp_path / "S.npy"), "--bits", "32", "--out", str(tmp_path / "c.npy")])
        == 0
    )
    centers = np.load(tmp_path / "c.npy")
    assert centers.dtype == np.int8 and centers.shape == (12, 32)
    printed = capsys.readouterr().out
    assert "d 13," in printed and "min distance" in printed and "S_loss" in printed


def test_centers_command_bad_input(tmp_path, capsys):
    assert main(["centers", "--similarity", str(tmp_path / "none.npy"), "--bits", "32", "--out", "x.npy"]) == 2
    assert "none.npy" in capsys.readouterr().err
    np.save(tmp_path / "S.npy", np.eye(4))
    assert main(["centers", "--similarity", str(tmp_path / "S.npy"), "--bits", "12", "--out", "x.npy"]) == 2
    assert "--bits" in capsys.readouterr().err
    assert not Path("x.npy").exists()


def test_evaluate_command(tmp_path, rng):
    def part(n):
        return CodeSet(
            pack_codes(rng.choice([-1, 1], size=(n, 16))),
            np.eye(3, dtype=np.uint8)[rng.integers(0, 3, n)],
            [str(i) for i in range(n)],
        )

    write_codes(tmp_path / "c.h5", CodesFile(part(5), part(30), 16, "shc", "x"))
    assert (
        main(["evaluate", "--codes", str(tmp_path / "c.h5"), "--out", str(tmp_path / "m.json"), "--topk", "10", "all"])
        == 0
    )
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert {"map@10", "map@all", "precision@r2", "p@1"} <= set(metrics)


def test_stage_error_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("evaluate: {topk: [], pn: [1]}\n")
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "stages" / "evaluate.py"),
            "k",
            "--seed",
            "0",
            "--codes",
            "none.h5",
            "--metrics",
            "m.json",
            "--params",
            str(tmp_path / "params.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "evaluate.topk: the list is empty" in out.stderr

"""End to end: the real `dvc repro` on a tiny params override in a temporary git repository."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from deephash.codes import read_codes

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TINY = {
    "similarity": {"epochs": 2},
    "train": {"epochs": 2},
    **{m: {"train": {"epochs": 2}} for m in ("shc", "csq", "shc_dist", "shc_sem")},  # their own budgets
    "bits": [16],
    "evaluate": {"topk": [10, "all"], "pn": [1, 10]},
    "report": {"metrics": ["map@all"], "curve_metric": "map@all"},
}


def deep_update(base: dict, override: dict) -> dict:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def run(cmd: list[str], cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
    }
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def make_repo(path: Path, override: dict) -> Path:
    path.mkdir()
    for name in ("dvc.yaml", "stages", "src", ".gitignore", ".dvcignore"):  # the project's ignores too
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, path / name)
    params = deep_update(yaml.safe_load((ROOT / "params.yaml").read_text()), override)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], path)
    run(["git", "config", "user.email", "t@t"], path)
    run(["git", "config", "user.name", "t"], path)
    run([sys.executable, "-m", "dvc", "init", "-q"], path)
    run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-qm", "init"], path)
    return path


def dvc(path: Path, *args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args], path)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("e2e") / "repo", {**TINY, "methods": ["shc"]})
    first = dvc(repo, "repro")
    # pre-stages only for the methods in `methods`: no csq centres, no SHC ablations, no SSDH pairs
    assert stages_run(first) == {
        "split",
        "cache",
        "similarity",
        "prestage@shc-16",
        "train@shc-16-0",
        "export@shc-16-0",
        "evaluate@shc-16-0",
        "report",
    }
    return repo


def test_outputs_exist_and_parse(pipeline):
    codes = read_codes(pipeline / "codes" / "shc-16-0.h5")
    assert codes.bits == 16 and codes.method == "shc" and codes.dataset == "digit-pairs"  # the default dataset
    assert codes.query.codes.shape == (500, 2) and codes.database.codes.shape == (3500, 2)
    metrics = json.loads((pipeline / "metrics" / "shc-16-0.json").read_text())
    diagnostics = {"distinct_codes", "largest_bucket", "bit_imbalance"}
    assert {
        "map@10",
        "map@all",
        "map_tieaware@10",
        "map_tieaware@all",
        "precision@r2",
        "p@1",
        "p@10",
    } | diagnostics == set(metrics)
    assert all(0 <= v <= 1 for k, v in metrics.items() if k != "distinct_codes")
    assert 1 <= metrics["distinct_codes"] <= 3500
    centers = json.loads((pipeline / "metrics" / "prestage" / "shc-16.json").read_text())
    assert centers["min_distance"] >= centers["d"] == 4  # Gilbert-Varshamov, 100 classes at 16 bits
    assert (pipeline / "data" / "similarity" / "S.png").stat().st_size > 1000
    assert (pipeline / "plots" / "pr" / "shc-16-0.csv").read_text().startswith("radius,precision,recall")
    assert (pipeline / "plots" / "figures" / "shc-16-0.png").exists()
    assert sorted(p.name for p in (pipeline / "targets" / "shc-16").iterdir()) == ["centers-16.npy"]


def test_status_clean_and_second_repro_runs_nothing(pipeline):
    assert "up to date" in dvc(pipeline, "status")
    assert stages_run(dvc(pipeline, "repro")) == set()


def test_changing_train_lr_reruns_only_downstream(pipeline):
    run(["git", "add", "-A"], pipeline)
    run(["git", "commit", "-qm", "baseline"], pipeline)
    out = dvc(pipeline, "exp", "run", "-S", "train.lr=0.002")
    assert stages_run(out) == {"train@shc-16-0", "export@shc-16-0", "evaluate@shc-16-0", "report"}
    assert "up to date" in dvc(pipeline, "status")


def test_changing_the_k_list_reruns_only_evaluate_and_the_report(pipeline):
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    params["evaluate"]["topk"] = [5, "all"]
    (pipeline / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert stages_run(dvc(pipeline, "repro")) == {"evaluate@shc-16-0", "report"}
    assert "map@5" in json.loads((pipeline / "metrics" / "shc-16-0.json").read_text())


def dvc_process(repo: Path, *args: str, **popen: object) -> subprocess.Popen:
    """``dvc <args>`` started in its own process group, so a kill reaches the stage it runs too."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, start_new_session=True, **popen)


def wait_for(proc: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.002)
    assert proc.poll() is None, f"the command ended before {what}"


def kill_when(repo: Path, ready: Callable[[], bool], what: str, *args: str) -> None:
    """SIGKILL ``dvc <args>`` and the stage it runs once ``ready()`` holds."""
    proc = dvc_process(repo, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(proc, ready, what)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def checkpoint_written(repo: Path, key: str) -> Callable[[], bool]:
    """True once the train stage of ``key`` has saved a checkpoint newer than the one there now."""
    checkpoint = repo / "checkpoints" / key / "last.pt"
    before = checkpoint.stat().st_mtime_ns if checkpoint.exists() else 0
    return lambda: checkpoint.exists() and checkpoint.stat().st_mtime_ns != before


def set_params(repo: Path, change: Callable[[dict], object]) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    change(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def assert_clean_after_kill(repo: Path, reran: str, not_rerun: str) -> None:
    """The next ``dvc repro`` re-runs ``reran`` (not ``not_rerun``), ends clean, leaves no temporary."""
    again = stages_run(dvc(repo, "repro"))
    assert reran in again and not_rerun not in again
    assert "up to date" in dvc(repo, "status")
    leftovers = [p for p in repo.rglob(".*.tmp-*") if not {".git", ".dvc"} & set(p.relative_to(repo).parts)]
    assert leftovers == []
    codes = read_codes(repo / "codes" / "shc-16-0.h5")
    assert codes.bits == 16 and codes.query.codes.shape == (500, 2)


def test_sigkill_during_train_then_repro_completes_cleanly(pipeline):
    """A real ``dvc repro`` killed (SIGKILL, with the stage it runs) during a train stage; the next
    ``dvc repro`` resumes, completes with valid codes and a clean status, and no temporary is left."""
    set_params(pipeline, lambda p: p["shc"]["train"].update(epochs=4))
    kill_when(pipeline, checkpoint_written(pipeline, "shc-16-0"), "its train stage wrote a checkpoint", "repro")
    assert_clean_after_kill(pipeline, reran="train@shc-16-0", not_rerun="similarity")


def test_sigkill_while_export_writes_then_repro_completes_cleanly(pipeline):
    """Killed with the codes file's temporary half written: git ignores it, the next run removes it."""
    set_params(pipeline, lambda p: p["export"].update(batch_size=2))  # small slices: a long write
    codes = pipeline / "codes"

    def writing() -> bool:
        return any(p.name.startswith(".shc-16-0.h5.tmp-") for p in codes.iterdir()) if codes.exists() else False

    kill_when(pipeline, writing, "the export stage began writing its codes", "repro")
    assert writing()
    assert ".tmp-" not in run(["git", "status", "--porcelain"], pipeline)
    assert_clean_after_kill(pipeline, reran="export@shc-16-0", not_rerun="train@shc-16-0")


def test_a_killed_exp_run_leaves_nothing_staged(pipeline):
    run(["git", "add", "-A"], pipeline)
    run(["git", "commit", "-qm", "before the experiment"], pipeline)
    ready = checkpoint_written(pipeline, "shc-16-0")
    kill_when(pipeline, ready, "its train stage wrote a checkpoint", "exp", "run", "-S", "train.lr=0.003")
    # DVC stages its own -S edit of params.yaml; nothing deephash writes (dvclive, checkpoints, codes,
    # temporaries) may be in the index, or the next commit would carry it
    assert set(run(["git", "diff", "--cached", "--name-only"], pipeline).split()) <= {"params.yaml"}
    run(["git", "reset", "-q"], pipeline)
    run(["git", "checkout", "--", "params.yaml"], pipeline)
    assert_clean_after_kill(pipeline, reran="train@shc-16-0", not_rerun="similarity")


def test_a_second_repro_is_refused_while_the_first_runs(pipeline):
    set_params(pipeline, lambda p: p["shc"]["train"].update(epochs=5))
    first = dvc_process(pipeline, "repro", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(first, checkpoint_written(pipeline, "shc-16-0"), "its train stage wrote a checkpoint")
    try:
        second = dvc_process(pipeline, "repro", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        refused, _ = second.communicate(timeout=120)
    finally:
        output, _ = first.communicate(timeout=600)  # the first always finishes before the next test
    # DVC refuses it with its repository lock or, once the first holds its stages' outputs, their rwlock
    assert second.returncode != 0
    assert "Unable to acquire lock" in refused or "is busy, it is being blocked by" in refused, refused[-2000:]
    assert first.returncode == 0, output[-2000:]
    assert "train@shc-16-0" in stages_run(output)
    assert "up to date" in dvc(pipeline, "status")


def test_failed_stage_leaves_no_artefact(pipeline):
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    params["evaluate"]["topk"] = []
    (pipeline / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=pipeline, capture_output=True, text=True, env=env)
    assert out.returncode != 0
    assert "evaluate.topk: the list is empty" in out.stdout + out.stderr
    leftovers = [p for p in (pipeline / "metrics").rglob("*") if ".tmp-" in p.name]
    assert leftovers == []

"""Wall time of the default `dvc repro`, stage by stage, in a fresh copy of the project.

Reference measured in the same run: the start-up cost every torch stage pays (a Python process that
imports torch and deephash and exits); each stage is printed as seconds and as a multiple of it.
First, each stage script's start-up (``--help``: its imports, no work) beside a bare
``python -c "import torch"``; last, a no-op ``dvc repro`` (nothing changed) three times.
Usage: python benchmarks/pipeline.py [-S key=value ...] [--startup-only]   (-S as for `dvc exp run -S`)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def sh(cmd: list[str], cwd: Path) -> str:
    """Run ``cmd`` in the copy ``cwd``, whose own src/ is imported (not an installed deephash)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(cwd / "src")}
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


def overridden(params: dict[str, Any], set_params: list[str]) -> dict[str, Any]:
    """``params`` with each ``dotted.key=value`` (a YAML value) set in place, as `dvc exp run -S` would."""
    for assignment in set_params:
        dotted, value = assignment.split("=", 1)
        node = params
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = yaml.safe_load(value)
    return params


def bench_repo(set_params: list[str]) -> Path:
    """A fresh git + DVC copy of the project in a temporary directory, params overridden."""
    tmp = Path(tempfile.mkdtemp(prefix="deephash-bench-"))
    repo = tmp / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml", "stages", "src"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, repo / name)
    for readme in (ROOT / "targets").glob("*/README.md"):
        (repo / readme.parent.relative_to(ROOT)).mkdir(parents=True, exist_ok=True)
        shutil.copy(readme, repo / readme.relative_to(ROOT))
    sh(["git", "init", "-q"], repo)
    sh([sys.executable, "-m", "dvc", "init", "-q"], repo)
    sh([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], repo)
    for ignore in (".gitignore", ".dvcignore"):  # bytecode and numba's cache stay out of git and the deps
        shutil.copy(ROOT / ignore, repo / ignore)
    sh(["git", "add", "-A"], repo)
    sh(["git", "-c", "user.name=bench", "-c", "user.email=bench@local", "commit", "-qm", "benchmark"], repo)
    params = overridden(yaml.safe_load((repo / "params.yaml").read_text()), set_params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


def finish(repo: Path, keep: bool) -> None:
    """Say where the scratch copy is, or remove it."""
    if keep:
        print(f"kept: {repo}")
    else:
        shutil.rmtree(repo.parent, ignore_errors=True)


def seconds(cmd: list[str], cwd: Path, repeat: int = 3) -> float:
    """The median wall time of ``cmd``, a fresh process each time."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        sh(cmd, cwd)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def startup_seconds(repo: Path) -> float:
    """The reference: a Python process that imports torch and deephash, and exits."""
    return seconds([sys.executable, "-c", "import torch, deephash.train"], repo)


def stage_scripts(repo: Path) -> list[str]:
    """The scripts dvc.yaml's stages run, in order of first use."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    found = (re.search(r"python (stages/\S+\.py)", stage["cmd"]) for stage in stages.values())
    return list(dict.fromkeys(m.group(1) for m in found if m))


def print_startup(repo: Path) -> None:
    """Each stage script's ``--help`` and ``python -m deephash --help`` beside ``import torch``."""
    torch = seconds([sys.executable, "-c", "import torch"], repo)
    bare = seconds([sys.executable, "-c", "pass"], repo)
    print(f"start-up (median of 3): python -c 'import torch' {torch:.2f} s (the reference), python alone {bare:.2f} s")
    print(f"{'command':<36}{'seconds':>9}{'x torch':>9}")
    commands = {f"{script} --help": [script, "--help"] for script in stage_scripts(repo)}
    commands["python -m deephash --help"] = ["-m", "deephash", "--help"]
    for name, args in commands.items():
        took = seconds([sys.executable, *args], repo)
        print(f"{name:<36}{took:>9.2f}{took / torch:>9.2f}")


def print_noop(repo: Path, runs: int = 3) -> None:
    """``dvc repro`` with nothing changed: DVC checks every stage's deps and outputs, runs nothing."""
    times = [seconds([sys.executable, "-m", "dvc", "repro"], repo, repeat=1) for _ in range(runs)]
    print(f"no-op dvc repro ({len(stage_order(repo))} stages): " + ", ".join(f"{t:.1f} s" for t in times))


def stage_order(repo: Path) -> list[str]:
    return [
        line.split()[0]
        for line in sh([sys.executable, "-m", "dvc", "stage", "list"], repo).splitlines()
        if line.strip()
    ]


def time_stage(repo: Path, stage: str) -> float:
    t0 = time.perf_counter()
    sh([sys.executable, "-m", "dvc", "repro", "--single-item", stage], repo)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-S", "--set-param", action="append", default=[], help="params override, e.g. bits=[16]")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository (its path is printed)")
    parser.add_argument("--startup-only", action="store_true", help="only the start-up table, no pipeline run")
    args = parser.parse_args()
    repo = bench_repo(args.set_param)
    print_startup(repo)
    if args.startup_only:
        finish(repo, args.keep)
        return
    startup = startup_seconds(repo)
    order = stage_order(repo)
    total0 = time.perf_counter()
    times = {stage: time_stage(repo, stage) for stage in order}
    total = time.perf_counter() - total0
    print(f"reference: python start-up with torch + deephash imported = {startup:.2f} s")
    print(f"{'stage':<28}{'seconds':>9}{'x start-up':>12}")
    for stage, seconds in times.items():
        print(f"{stage:<28}{seconds:>9.1f}{seconds / startup:>12.1f}")
    groups: dict[str, float] = {}
    for stage, seconds in times.items():
        groups[re.sub(r"@.*", "", stage)] = groups.get(re.sub(r"@.*", "", stage), 0.0) + seconds
    print("per stage group: " + ", ".join(f"{g} {s:.1f} s" for g, s in groups.items()))
    print(f"whole pipeline: {total:.1f} s ({total / 60:.2f} min) on {os.cpu_count()} cores")
    print_noop(repo)
    table = repo / "report" / "table.md"
    if table.exists():
        print(f"\nreport/table.md:\n{table.read_text()}")
    finish(repo, args.keep)


if __name__ == "__main__":
    main()

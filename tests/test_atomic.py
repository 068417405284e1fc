"""Atomic writes: stale temporaries of a killed run go away, and JSON floats are machine-independent."""

from __future__ import annotations

import json
import subprocess

import pytest

from deephash.atomic import atomic_path, rounded, write_json
from deephash.errors import DeephashError


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    target = tmp_path / "out.json"
    stale_file = tmp_path / ".out.json.tmp-abc123"
    stale_dir = tmp_path / ".out.json.tmp-def456"
    stale_file.write_text("half")
    stale_dir.mkdir()
    (stale_dir / "part").write_text("half")
    other = tmp_path / ".other.json.tmp-xyz"
    other.write_text("not ours")
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert not stale_file.exists() and not stale_dir.exists()
    assert other.exists()  # another target's temporary is left to that target's writer
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.tmp-xyz", "out.json"]


def test_a_failed_write_keeps_the_previous_output(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("previous")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("disk full")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_json_floats_are_rounded_to_ten_significant_digits(tmp_path):
    assert rounded(0.1 + 0.2) == 0.3
    assert rounded({"x": [1 / 3, 7, "s"], "nan": float("nan")})["x"] == [0.3333333333, 7, "s"]
    # two sums that differ in the last bit, as vectorised reductions do across CPUs, write the same bytes
    a, b = 0.9345123456789012, 0.9345123456789013
    assert a != b
    write_json(tmp_path / "a.json", {"m": a})
    write_json(tmp_path / "b.json", {"m": b})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_git_ignores_temporaries(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        ["git", "check-ignore", "-q", "models/.shc-32.tmp-1a2b3c"], cwd=root, capture_output=True, check=False
    )
    assert result.returncode == 0


def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_previous_output(tiny_filesystem):
    target = tiny_filesystem / "metrics.json"
    write_json(target, {"map@all": 0.5})
    with pytest.raises(DeephashError, match=r"metrics\.json: no space left on the device"):
        write_json(target, {"padding": "x" * 400_000})  # more than the 256 KiB filesystem holds
    assert json.loads(target.read_text()) == {"map@all": 0.5}
    assert [p.name for p in tiny_filesystem.iterdir()] == ["metrics.json"]

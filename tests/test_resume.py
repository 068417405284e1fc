"""Resume: the real train stage killed with SIGKILL mid-training, then re-run, ends as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from deephash.data.base import Catalog
from deephash.data.split import Split, write_split
from deephash.errors import DeephashError
from deephash.resume import Checkpoint

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 8


def make_inputs(tmp: Path) -> Path:
    """A git repo (DVCLive needs one) holding a tiny split, its cache, SHC centres and params."""
    rng = np.random.default_rng(0)
    classes = [str(c) for c in range(4)]
    cuts = {"train": 160, "validation": 16, "query": 16, "database": 16}
    parts = {}
    for name, n in cuts.items():
        y = np.arange(n) % 4
        labels = np.eye(4, dtype=np.uint8)[y]
        parts[name] = Catalog(ids=[f"{name}{i}" for i in range(n)], sources=[""] * n, labels=labels, classes=classes)
        images = (rng.random((n, 16, 16, 1)) * 80 + y[:, None, None, None] * 50).astype(np.uint8)
        (tmp / "cache").mkdir(exist_ok=True)
        np.save(tmp / "cache" / f"{name}.npy", images)
    split = Split(train=parts["train"], query=parts["query"], database=parts["database"])
    split.validation = parts["validation"]
    write_split(tmp / "split", split, "tiny")
    (tmp / "targets").mkdir()
    np.save(tmp / "targets" / "centers-16.npy", np.where(rng.random((4, 16)) < 0.5, -1, 1).astype(np.int8))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(epochs=EPOCHS, batch_size=16, val_every=2, backbone={"name": "smallcnn", "width": 16})
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)
    commit = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "i"]
    subprocess.run(commit, cwd=tmp, check=True)
    return tmp


def stage(tmp: Path, name: str) -> list[str]:
    return [
        sys.executable, str(ROOT / "stages" / "train.py"), "shc", "16", "--seed", "0", "--params", "params.yaml",
        "--split", "split", "--cache", "cache", "--targets", "targets", "--out", f"models/{name}",
        "--live", f"live/{name}", "--checkpoint", f"ckpt/{name}", "--metrics", f"metrics/{name}.json",
    ]  # fmt: skip


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path):
    tmp = make_inputs(tmp_path)
    subprocess.run(stage(tmp, "whole"), cwd=tmp, env=ENV, check=True, capture_output=True)
    proc = subprocess.Popen(stage(tmp, "killed"), cwd=tmp, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = tmp / "ckpt" / "killed" / "last.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = torch.load(ckpt, weights_only=True)["epoch"]
    assert 1 <= done < EPOCHS, "the kill came too late to test a resume"
    assert not (tmp / "models" / "killed").exists()
    again = subprocess.run(stage(tmp, "killed"), cwd=tmp, env=ENV, check=True, capture_output=True, text=True)
    assert f"after epoch {done}" in again.stderr
    for path in ("models/{}/model.pt", "models/{}/config.json", "metrics/{}.json"):
        whole, resumed = ((tmp / path.format(n)).read_bytes() for n in ("whole", "killed"))
        assert whole == resumed, path
    curves = sorted((tmp / "live" / "whole").rglob("*.tsv"))
    assert curves and all(
        c.read_bytes() == (tmp / "live" / "killed" / c.relative_to(tmp / "live" / "whole")).read_bytes() for c in curves
    )


def test_checkpoint_of_another_network_is_refused_and_other_params_start_fresh(tmp_path, capsys):
    path = tmp_path / "last.pt"
    Checkpoint(path, {"method": "shc", "bits": 16}, "a").save({"epoch": 3})
    with pytest.raises(DeephashError, match=r"last\.pt: a checkpoint of bits 16, method shc, not of bits 32"):
        Checkpoint(path, {"method": "shc", "bits": 32}, "a").load()
    assert Checkpoint(path, {"method": "shc", "bits": 16}, "b").load() is None
    assert "training from scratch" in capsys.readouterr().err
    assert Checkpoint(path, {"method": "shc", "bits": 16}, "a").load()["epoch"] == 3
    path.write_bytes(b"junk")
    with pytest.raises(DeephashError, match="not a training checkpoint"):
        Checkpoint(path, {}, "a").load()

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def run_stage_in_process(script: str, cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """A stage's ``__main__`` run in this process (no interpreter start-up, ~2-3 s saved per call);
    returns its exit status. Its stdout and stderr reach ``capsys``."""
    import runpy

    monkeypatch.chdir(cwd)
    monkeypatch.syspath_prepend(str(ROOT / "stages"))
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(ROOT / "stages" / script), run_name="__main__")
    return int(exit_.value.code or 0)


def synthetic_similarity(num_classes: int, seed: int = 0, group: int = 5) -> np.ndarray:
    """An S shaped like SHC stage 1's output: classes in superclasses, rows centred and scaled."""
    from deephash.similarity import normalize_rows

    rng = np.random.default_rng(seed)
    embedding = rng.normal(size=(num_classes, 16))
    embedding += 2.5 * rng.normal(size=(num_classes // group + 1, 16))[np.arange(num_classes) // group]
    logits = -((embedding[:, None] - embedding[None]) ** 2).sum(-1) / 8
    np.fill_diagonal(logits, -np.inf)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    s = normalize_rows(p)
    s = (s + s.T) / 2
    np.fill_diagonal(s, 1.0)
    return s


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors run fastest on one CPU thread (the library's own default), even on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reference_ap(dist: np.ndarray, rel: np.ndarray, k: int) -> float:
    """The README's definition, written the slow way: stable sort by (distance, index), then AP@k."""
    order = sorted(range(len(dist)), key=lambda j: (dist[j], j))[:k]
    hits, total = 0, 0.0
    for rank, item in enumerate(order, start=1):
        if rel[item]:
            hits += 1
            total += hits / rank
    return total / hits if hits else 0.0


def torchrun(script: str, directory: Path, processes: int = 2) -> str:
    """Run ``script`` under torchrun with ``processes`` CPU (gloo) processes; returns its stdout."""
    path = directory / "ddp_script.py"
    path.write_text(textwrap.dedent(script))
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            f"--master_port={port}",
            str(path),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny trained model, its codes file and image cache, laid out as the pipeline writes them."""
    from dataclasses import asdict

    from deephash.checkpoint import save_model
    from deephash.codes import CodeSet, CodesFile, write_codes
    from deephash.data.arrays import ImageArrays
    from deephash.methods import create_method
    from deephash.models import create_backbone
    from deephash.train import TrainConfig, fit, seed_everything

    root = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(0)
    labels = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, 40)]
    images = (rng.random((40, 8, 8, 1)) * 60 + labels.argmax(1)[:, None, None, None] * 60).astype(np.uint8)
    np.save(root / "centers-16.npy", np.where(rng.random((4, 16)) < 0.5, -1, 1).astype(np.int8))
    config = TrainConfig(epochs=1, batch_size=16, device="cpu")
    method = create_method("shc", 16, 4)
    method.load_targets(root, labels)
    seed_everything(0)
    backbone = {"name": "smallcnn", "width": 8}
    network = method.build_network(create_backbone(in_channels=1, **backbone))
    data = ImageArrays(images, labels)
    fit(network, method, data, config)
    save_model(
        root / "model",
        network,
        {
            "method": "shc", "bits": 16, "num_classes": 4, "classes": list("abcd"), "dataset": "test",
            "channels": 1, "image_shape": [8, 8], "backbone": backbone, "method_params": {}, "train": asdict(config),
        },
    )  # fmt: skip
    codes = method.encode(network.eval(), data, config)
    ids = [f"img{i}" for i in range(40)]
    write_codes(
        root / "codes.h5",
        CodesFile(CodeSet(codes[:5], labels[:5], ids[:5]), CodeSet(codes[5:], labels[5:], ids[5:]), 16, "shc", "t"),
    )
    (root / "cache").mkdir()
    np.save(root / "cache" / "query.npy", images[:5])
    np.save(root / "cache" / "database.npy", images[5:])
    return root, images


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 256 KiB tmpfs (root only): a real full disk, not a simulated one."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=True)

"""CIFAR python-version pickles, read by a restricted unpickler that runs no code from the file."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from deephash.data import create_dataset
from deephash.data.split import split_catalog
from deephash.errors import DeephashError


def dump(path: Path, content: object, legacy_numpy: bool = False) -> None:
    """Protocol 2, as the original files; ``legacy_numpy`` writes numpy 1's module names, as they do."""
    data = pickle.dumps(content, protocol=2)
    if legacy_numpy:
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def cifar100_batch(per_class: int, seed: int) -> dict[str, object]:
    fine = [c for c in range(100) for _ in range(per_class)]
    rng = np.random.default_rng(seed)
    return {
        "filenames": [f"img_{i}.png" for i in range(len(fine))],
        "batch_label": "training batch 1 of 1",
        "fine_labels": fine,
        "coarse_labels": [c // 5 for c in fine],
        "data": rng.integers(0, 256, (len(fine), 3072), dtype=np.uint8),
    }


@pytest.fixture
def cifar100(tmp_path: Path) -> Path:
    base = tmp_path / "cifar-100-python"
    dump(base / "train", cifar100_batch(2, 0), legacy_numpy=True)
    dump(base / "test", cifar100_batch(1, 1))
    dump(
        base / "meta",
        {"fine_label_names": [f"fine{i}" for i in range(100)], "coarse_label_names": [f"coarse{i}" for i in range(20)]},
    )
    return tmp_path


def test_cifar100_fine_labels_ids_and_pixels(cifar100):
    adapter = create_dataset("cifar100", str(cifar100))
    catalog = adapter.catalog()
    assert len(catalog) == 300 and catalog.classes[7] == "fine7"
    assert catalog.official.count("train") == 200 and catalog.ids[200] == "test-00000"
    assert catalog.labels[:200].argmax(1).tolist() == [c for c in range(100) for _ in range(2)]
    raw = cifar100_batch(2, 0)["data"][3]
    image = next(adapter.read([catalog.sources[3]]))
    assert image.shape == (32, 32, 3)
    assert np.array_equal(image[:, :, 0].ravel(), raw[:1024]) and np.array_equal(image[:, :, 2].ravel(), raw[2048:])
    split = split_catalog(catalog, "official", seed=0)
    assert split.counts() == {"train": 200, "query": 100, "database": 200}


def test_cifar100_coarse_labels(cifar100):
    catalog = create_dataset("cifar100", str(cifar100), labels="coarse").catalog()
    assert catalog.labels.shape == (300, 20) and catalog.classes[0] == "coarse0"
    assert catalog.labels[:10].argmax(1).tolist() == [0] * 10


def test_root_may_be_the_cifar_folder_itself(cifar100):
    assert len(create_dataset("cifar100", str(cifar100 / "cifar-100-python")).catalog()) == 300


def test_cifar10_batches(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    for i, name in enumerate([*(f"data_batch_{b}" for b in range(1, 6)), "test_batch"]):
        labels = list(range(10))
        dump(base / name, {"labels": labels, "data": np.full((10, 3072), i, dtype=np.uint8)})
    dump(base / "batches.meta", {"label_names": [f"c{i}" for i in range(10)], "num_cases_per_batch": 10})
    adapter = create_dataset("cifar10", str(tmp_path))
    catalog = adapter.catalog()
    assert len(catalog) == 60 and catalog.official.count("test") == 10
    assert next(adapter.read(["data_batch_3:4"])).max() == 2


class Payload:
    """What an attacker pickles: unpickling it would call os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class EvalPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload", [Payload, EvalPayload])
def test_malicious_pickle_is_refused_and_runs_nothing(cifar100, tmp_path, payload):
    marker = tmp_path / "pwned"
    batch = cifar100_batch(1, 0)
    batch["filenames"] = payload(marker)
    dump(cifar100 / "cifar-100-python" / "test", batch)
    with pytest.raises(
        DeephashError, match=r"test: not a CIFAR pickle: refused global (posix\.system|__builtin__\.eval)"
    ):
        create_dataset("cifar100", str(cifar100)).catalog()
    assert not marker.exists()
    # the unrestricted loader would have run it: the fixture really is malicious
    pickle.loads((cifar100 / "cifar-100-python" / "test").read_bytes(), encoding="latin1")
    assert marker.exists()


def test_unexpected_types_are_refused(cifar100):
    batch = cifar100_batch(1, 0)
    batch["data"] = batch["data"].astype(np.float64)
    dump(cifar100 / "cifar-100-python" / "test", batch)
    with pytest.raises(DeephashError, match=r"test: 'data' must be a uint8 \[N, 3072\] array, got float64"):
        create_dataset("cifar100", str(cifar100)).catalog()


def test_labels_out_of_range_are_refused(cifar100):
    batch = cifar100_batch(1, 0)
    batch["fine_labels"][5] = 100
    dump(cifar100 / "cifar-100-python" / "test", batch)
    with pytest.raises(DeephashError, match=r"'fine_labels' must hold ints in 0\.\.99"):
        create_dataset("cifar100", str(cifar100)).catalog()


def test_missing_cifar_files_name_the_layout(tmp_path):
    with pytest.raises(DeephashError, match=r"meta not found here or in cifar-100-python/; expected this layout"):
        create_dataset("cifar100", str(tmp_path)).catalog()

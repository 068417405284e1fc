"""LSH and ITQ: the closed-form floors, their math by hand, and a model that saves and reloads."""

import itertools

import numpy as np
import pytest
import torch

from deephash.checkpoint import load_model, save_model
from deephash.data.arrays import ImageArrays
from deephash.diagnostics import bucket_stats
from deephash.errors import DeephashError
from deephash.methods import create_method
from deephash.methods.projection import itq_rotation, pca, random_rotation
from deephash.models import create_backbone
from deephash.train import TrainConfig, fit


def test_random_rotation_is_orthogonal_and_seeded():
    r = random_rotation(5, np.random.default_rng(0))
    np.testing.assert_allclose(r @ r.T, np.eye(5), atol=1e-12)
    np.testing.assert_array_equal(r, random_rotation(5, np.random.default_rng(0)))


def test_pca_finds_the_largest_variance_directions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3)) * [5.0, 0.1, 2.0]
    directions = pca(x - x.mean(0), 2)
    np.testing.assert_allclose(np.abs(directions), [[1, 0], [0, 0], [0, 1]], atol=0.02)
    with pytest.raises(DeephashError, match="itq: 4 bits need at least 4 feature dimensions"):
        pca(x, 4)


def test_itq_rotation_never_raises_the_quantisation_loss():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(200, 8)) @ rng.normal(size=(8, 8))

    def loss(r: np.ndarray) -> float:
        return float(np.square(np.where(v @ r >= 0, 1.0, -1.0) - v @ r).sum())

    start = random_rotation(8, np.random.default_rng(1))
    losses = [loss(itq_rotation(v, n, np.random.default_rng(1))) for n in (0, 1, 5, 50)]
    assert losses[0] == pytest.approx(loss(start))
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(losses)) and losses[-1] < losses[0]
    r = itq_rotation(v, 50, np.random.default_rng(1))
    np.testing.assert_allclose(r @ r.T, np.eye(8), atol=1e-10)


def images(n: int = 40) -> ImageArrays:
    rng = np.random.default_rng(0)
    return ImageArrays((rng.random((n, 4, 8, 1)) * 255).astype(np.uint8), np.eye(2, dtype=np.uint8)[np.arange(n) % 2])


@pytest.mark.parametrize("name", ["lsh", "itq"])
def test_fitted_in_the_train_loop_saved_and_reloaded(name, tmp_path):
    data = images()
    method = create_method(name, 16, 2)
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    fit(network, method, data, TrainConfig(epochs=0, device="cpu"))
    codes = method.encode(network, data, TrainConfig(device="cpu"))
    stats = bucket_stats(codes, 16)
    assert stats["distinct_codes"] > 30 and stats["largest_bucket"] < 0.1
    pixels = data.images.reshape(len(data), -1).astype(np.float64) / 255  # [N, H W] for one channel
    expected_mean = pixels.mean(0)
    np.testing.assert_allclose(network.mean.numpy(), expected_mean, atol=1e-5)
    u = (pixels - expected_mean) @ network.weight.numpy().T.astype(np.float64)
    np.testing.assert_array_equal(codes, np.packbits(u >= 0, axis=1))
    save_model(
        tmp_path / "m",
        network,
        {
            "method": name,
            "bits": 16,
            "num_classes": 2,
            "channels": 1,
            "backbone": {"name": "smallcnn", "width": 8},
            "method_params": {},
            "train": {"crop": 0},
        },
    )
    again, method_again, _ = load_model(tmp_path / "m")
    np.testing.assert_array_equal(method_again.encode(again, data, TrainConfig(device="cpu")), codes)
    assert not [p for p in again.parameters() if p.requires_grad]  # nothing for SGD


def test_itq_codes_are_seeded_and_need_zero_epochs():
    data = images()

    def codes(seed: int) -> np.ndarray:
        method = create_method("itq", 16, 2, {"projection_seed": seed})
        network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
        fit(network, method, data, TrainConfig(epochs=0, device="cpu"))
        return method.encode(network, data, TrainConfig(device="cpu"))

    np.testing.assert_array_equal(codes(0), codes(0))
    assert not np.array_equal(codes(0), codes(1))
    method = create_method("itq", 16, 2)
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    with pytest.raises(DeephashError, match=r"itq\.train\.epochs: itq is fitted in closed form, set 0"):
        fit(network, method, data, TrainConfig(epochs=1, device="cpu"))


def test_backbone_features_are_frozen_and_batch_norm_stays_put():
    data = images()
    method = create_method("lsh", 16, 2, {"features": "backbone"})
    backbone = create_backbone("smallcnn", in_channels=1, width=8)
    network = method.build_network(backbone)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    fit(network, method, data, TrainConfig(epochs=0, device="cpu"))
    network.train()
    network(torch.rand(8, 1, 4, 8))
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in before.items())
    assert network.weight.shape == (16, backbone.out_features)

"""SSDH: the pseudo-similarity fit by hand, its loss by hand, and proof that training reads no label."""

import numpy as np
import pytest
import torch

from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.methods import create_method, method_class
from deephash.methods.ssdh import (
    PSEUDO_FILE,
    cosine_distances,
    image_features,
    label_agreement,
    pseudo_similarity,
    pseudo_similarity_loss,
    threshold_distances,
)
from deephash.models import create_backbone
from deephash.train import TrainConfig, fit, seed_everything


def distances(pairs: dict[tuple[int, int], float], n: int = 4) -> np.ndarray:
    d = np.zeros((n, n), dtype=np.float32)
    for (i, j), v in pairs.items():
        d[i, j] = d[j, i] = v
    return d


def test_thresholds_hand_computed():
    # six pairs: 0.2, four at 0.5, 0.8; three bins over [0.2, 0.8] -> the mode is the middle bin, 0.5
    d = distances({(0, 1): 0.2, (2, 3): 0.8, (0, 2): 0.5, (0, 3): 0.5, (1, 2): 0.5, (1, 3): 0.5})
    s, stats = threshold_distances(d, alpha=1.0, beta=0.9, bins=3)
    assert stats["mode"] == pytest.approx(0.5, abs=1e-5)
    assert stats["sd_left"] == pytest.approx(np.sqrt(0.3**2 / 5), abs=1e-5)  # mirrored {0.2, 0.5 x4}
    assert stats["sd_right"] == pytest.approx(0.3, abs=1e-5)  # mirrored {0.8}
    expected = np.ones((4, 4), dtype=np.int8)
    expected[np.triu_indices(4, 1)] = 0
    expected = np.triu(expected) + np.triu(expected, 1).T
    expected[0, 1] = expected[1, 0] = 1  # 0.2 < 0.5 - 0.134
    expected[2, 3] = expected[3, 2] = -1  # 0.8 > 0.5 + 0.9 * 0.3
    np.testing.assert_array_equal(s, expected)
    assert stats["similar_fraction"] == pytest.approx(1 / 6) and stats["dissimilar_fraction"] == pytest.approx(1 / 6)


def test_pseudo_similarity_of_bell_shaped_distances_keeps_only_the_tails():
    features = np.random.default_rng(0).normal(size=(200, 16)) + 1.0
    s, stats = pseudo_similarity(features)
    assert (s == s.T).all() and (np.diag(s) == 1).all()
    assert 0 < stats["similar_fraction"] < 0.1 and 0 < stats["dissimilar_fraction"] < 0.1
    d = cosine_distances(features)
    off = ~np.eye(len(d), dtype=bool)
    assert (d[(s == 1) & off] < stats["similar_below"]).all()
    assert (d[s == -1] > stats["dissimilar_above"]).all()


def test_label_agreement_hand_computed():
    labels = np.eye(2, dtype=np.uint8)[[0, 0, 1, 1]]
    pseudo = np.eye(4, dtype=np.int8)
    pseudo[0, 1] = pseudo[1, 0] = 1  # right: same class
    pseudo[0, 2] = pseudo[2, 0] = 1  # wrong
    pseudo[1, 3] = pseudo[3, 1] = -1  # right: different classes
    agreement = label_agreement(pseudo, labels)
    assert agreement == {"similar_precision": 0.5, "dissimilar_precision": 1.0, "label_similar_fraction": 2 / 6}


def test_zero_features_are_orthogonal_to_everything():
    d = cosine_distances(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]))
    np.testing.assert_allclose(d, [[1, 1, 1], [1, 0, 1], [1, 1, 0]], atol=1e-6)


def test_feature_sources():
    data = ImageArrays(np.full((5, 8, 8, 1), 255, dtype=np.uint8), np.eye(5, dtype=np.uint8))
    assert image_features(data, "pixels").shape == (5, 64) and image_features(data, "pixels").max() == 1.0
    backbone = create_backbone("smallcnn", in_channels=1, width=8)
    assert image_features(data, "backbone", backbone).shape == (5, backbone.out_features)
    with pytest.raises(DeephashError, match="features: must be one of"):
        image_features(data, "labels")


def test_loss_hand_computed_and_unknown_pairs_ignored():
    relaxed = torch.tensor([[1.0, 1.0], [1.0, -1.0]])  # V V^T / 2 = identity
    target = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    assert pseudo_similarity_loss(relaxed, target).item() == pytest.approx(2 * 1.0 / 4)  # two (0 - -1)^2 over B^2
    unknown = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert pseudo_similarity_loss(relaxed, unknown).item() == 0.0


def test_gradient_pulls_pseudo_similar_codes_together():
    relaxed = torch.tensor([[0.5, 0.2], [0.1, -0.4]], requires_grad=True)
    pseudo_similarity_loss(relaxed, torch.ones(2, 2)).backward()
    assert (-relaxed.grad[0] @ relaxed[1]).item() > 0


def train_ssdh(data: ImageArrays, directory) -> dict[str, torch.Tensor]:
    method = create_method("ssdh", 16, data.labels.shape[1])
    method.load_targets(directory, data.labels)
    seed_everything(0)
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    fit(network, method, data, TrainConfig(epochs=2, batch_size=8, device="cpu"))
    return network.state_dict()


def test_training_never_reads_a_label(tmp_path):
    assert method_class("ssdh").supervised is False
    rng = np.random.default_rng(0)
    images = (rng.random((24, 8, 8, 1)) * 255).astype(np.uint8)
    labels = np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 24)]
    np.save(tmp_path / PSEUDO_FILE, pseudo_similarity(image_features(ImageArrays(images, labels), "pixels"))[0])
    with_labels = train_ssdh(ImageArrays(images, labels), tmp_path)
    scrambled = train_ssdh(ImageArrays(images, np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 24)]), tmp_path)
    without = train_ssdh(ImageArrays(images, np.zeros_like(labels)), tmp_path)
    for key, value in with_labels.items():
        assert torch.equal(value, scrambled[key]) and torch.equal(value, without[key]), key


def test_missing_or_mismatched_pseudo_similarity(tmp_path):
    method = create_method("ssdh", 16, 3)
    with pytest.raises(DeephashError, match="run its pseudo_similarity stage"):
        method.load_targets(tmp_path, np.zeros((4, 3)))
    np.save(tmp_path / PSEUDO_FILE, np.ones((5, 5), dtype=np.int8))
    with pytest.raises(DeephashError, match=r"\(5, 5\) for 4 images"):
        method.load_targets(tmp_path, np.zeros((4, 3)))

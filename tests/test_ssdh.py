"""SSDH: the pseudo-similarity fit by hand, in blocks equal to the whole matrix, its loss by hand,
and proof that training reads no label."""

import json

import numpy as np
import pytest
import torch

from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.methods import create_method, method_class
from deephash.methods import ssdh as ssdh_module
from deephash.methods.features import feature_extractor, image_features
from deephash.methods.ssdh import (
    FEATURES_FILE,
    THRESHOLDS_FILE,
    balance_penalty,
    cosine_distances,
    fit_thresholds,
    pair_report,
    pseudo_similarity_loss,
    threshold,
    unit_rows,
)
from deephash.models import create_backbone
from deephash.train import TrainConfig, fit, seed_everything


def test_thresholds_hand_computed():
    # four unit vectors in the plane at angles whose six pairwise 1 - cos are known
    angles = np.array([0.0, 0.3, 1.2, 2.0])
    unit = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
    pairs = cosine_distances(unit, unit)[np.triu_indices(4, 1)].astype(np.float64)
    stats = fit_thresholds(unit, alpha=1.0, beta=0.5, bins=3)
    edges = np.linspace(pairs.min(), pairs.max() + 1e-6, 4)
    peak = int(np.argmax(np.histogram(pairs, bins=edges)[0]))
    mode = (edges[peak] + edges[peak + 1]) / 2
    left, right = pairs[pairs <= mode] - mode, pairs[pairs > mode] - mode
    assert stats["mode"] == pytest.approx(mode, abs=1e-6)
    assert stats["sd_left"] == pytest.approx(np.sqrt(np.mean(left**2)), abs=1e-6)
    assert stats["sd_right"] == pytest.approx(np.sqrt(np.mean(right**2)), abs=1e-6)
    assert stats["similar_below"] == pytest.approx(mode - stats["sd_left"], abs=1e-6)
    assert stats["dissimilar_above"] == pytest.approx(mode + 0.5 * stats["sd_right"], abs=1e-6)


def test_blocks_give_the_whole_matrix_fit(monkeypatch):
    unit = unit_rows(np.random.default_rng(0).normal(size=(50, 8)) + 1.0)
    whole = fit_thresholds(unit)
    report = pair_report(unit, whole, np.eye(5, dtype=np.uint8)[np.arange(50) % 5])
    monkeypatch.setattr(ssdh_module, "BLOCK", 7)  # blocks that do not divide N
    assert fit_thresholds(unit) == pytest.approx(whole)
    assert pair_report(unit, whole, np.eye(5, dtype=np.uint8)[np.arange(50) % 5]) == pytest.approx(report)
    d = cosine_distances(unit, unit)[np.triu_indices(50, 1)]
    s = threshold(d, whole["similar_below"], whole["dissimilar_above"]).numpy()
    assert report["similar_fraction"] == pytest.approx((s == 1).mean())
    assert report["dissimilar_fraction"] == pytest.approx((s == -1).mean())
    assert 0 < report["similar_fraction"] < 0.1 and 0 < report["dissimilar_fraction"] < 0.1


def test_pair_report_label_agreement_hand_computed():
    # items 0, 1 identical (similar, same class), 2 identical to 0 (similar, other class), 3 opposite
    unit = np.array([[1.0, 0], [1, 0], [1, 0], [-1, 0]], dtype=np.float32)
    labels = np.eye(2, dtype=np.uint8)[[0, 0, 1, 1]]
    report = pair_report(unit, {"similar_below": 0.5, "dissimilar_above": 1.5}, labels)
    assert report["similar_fraction"] == 3 / 6 and report["dissimilar_fraction"] == 3 / 6
    assert report["similar_precision"] == pytest.approx(1 / 3)  # only (0, 1) of (0,1), (0,2), (1,2)
    assert report["dissimilar_precision"] == pytest.approx(2 / 3)  # (0,3), (1,3) right, (2,3) wrong
    assert report["label_similar_fraction"] == pytest.approx(2 / 6)


def test_zero_features_are_orthogonal_to_everything():
    unit = unit_rows(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]))
    np.testing.assert_allclose(cosine_distances(unit, unit), [[1, 1, 1], [1, 0, 1], [1, 1, 0]], atol=1e-6)


def test_feature_sources():
    data = ImageArrays(np.full((5, 8, 8, 1), 255, dtype=np.uint8), np.eye(5, dtype=np.uint8))
    pixels = image_features(feature_extractor("pixels", None), data)
    assert pixels.shape == (5, 64) and pixels.max() == 1.0
    backbone = create_backbone("smallcnn", in_channels=1, width=8)
    assert image_features(feature_extractor("backbone", backbone), data).shape == (5, backbone.out_features)
    assert not any(p.requires_grad for p in backbone.parameters())  # frozen
    with pytest.raises(DeephashError, match=r"ssdh\.train\.features: must be one of"):
        create_method("ssdh", 16, 5, {"features": "labels"})


def test_features_stream_into_a_memory_mapped_file_with_the_same_values(tmp_path):
    """The pre-stage writes its features batch by batch into the .npy it saves (no second copy in
    RAM), normalised in place in blocks; values equal the in-memory path's."""
    rng = np.random.default_rng(0)
    data = ImageArrays(
        rng.integers(0, 256, (600, 8, 8, 1), dtype=np.uint8), np.eye(6, dtype=np.uint8)[np.arange(600) % 6]
    )
    extractor = feature_extractor("pixels", None)
    in_memory = unit_rows(image_features(extractor, data, batch_size=64))
    mapped = unit_rows(image_features(extractor, data, batch_size=64, path=tmp_path / "f.npy"))
    assert isinstance(mapped, np.memmap)
    mapped.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), in_memory)
    assert fit_thresholds(mapped) == fit_thresholds(in_memory)


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


def test_balance_penalty_is_zero_for_balanced_bits_only():
    assert balance_penalty(torch.tensor([[1.0, -1.0], [-1.0, 1.0]])).item() == 0.0
    assert balance_penalty(torch.tensor([[1.0, 1.0], [1.0, -1.0]])).item() == pytest.approx(0.5)


def write_prestage(directory, data: ImageArrays) -> None:
    unit = unit_rows(image_features(feature_extractor("pixels", None), data))
    np.save(directory / FEATURES_FILE, unit)
    (directory / THRESHOLDS_FILE).write_text(json.dumps(fit_thresholds(unit)))


def test_batch_similarity_is_the_full_matrix_restricted(tmp_path):
    rng = np.random.default_rng(0)
    data = ImageArrays((rng.random((20, 8, 8, 1)) * 255).astype(np.uint8), np.zeros((20, 2), np.uint8))
    write_prestage(tmp_path, data)
    method = create_method("ssdh", 16, 2)
    method.load_targets(tmp_path, data.labels)
    unit = np.load(tmp_path / FEATURES_FILE)
    full = threshold(cosine_distances(unit, unit), method.low, method.high).numpy()
    np.fill_diagonal(full, 1)
    index = torch.tensor([3, 17, 0, 9])
    np.testing.assert_array_equal(method.batch_similarity(index).numpy(), full[np.ix_(index, index)])


def train_ssdh(data: ImageArrays, directory) -> dict[str, torch.Tensor]:
    method = create_method("ssdh", 16, data.labels.shape[1], {"balance": 0.1})
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
    write_prestage(tmp_path, ImageArrays(images, labels))
    with_labels = train_ssdh(ImageArrays(images, labels), tmp_path)
    scrambled = train_ssdh(ImageArrays(images, np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 24)]), tmp_path)
    without = train_ssdh(ImageArrays(images, np.zeros_like(labels)), tmp_path)
    for key, value in with_labels.items():
        assert torch.equal(value, scrambled[key]) and torch.equal(value, without[key]), key


def test_missing_or_mismatched_prestage_outputs(tmp_path):
    method = create_method("ssdh", 16, 3)
    with pytest.raises(DeephashError, match="run its pseudo_similarity stage"):
        method.load_targets(tmp_path, np.zeros((4, 3)))
    np.save(tmp_path / FEATURES_FILE, np.ones((5, 2), dtype=np.float32))
    (tmp_path / THRESHOLDS_FILE).write_text(json.dumps({"similar_below": 0.1}))
    with pytest.raises(DeephashError, match=r"\(5, 2\) for 4 images"):
        method.load_targets(tmp_path, np.zeros((4, 3)))
    with pytest.raises(DeephashError, match="lacks 'dissimilar_above'"):
        method.load_targets(tmp_path, np.zeros((5, 3)))

"""Every registered method, parametrised over the registry (in the spirit of timm's model tests)."""

import json

import numpy as np
import pytest
import torch
from conftest import synthetic_similarity

from deephash.data.arrays import ImageArrays
from deephash.methods import create_method, list_methods, method_class
from deephash.methods.features import feature_extractor, image_features
from deephash.methods.hash_centers import center_loss, center_targets, centers_file
from deephash.methods.projection import ProjectionMethod
from deephash.methods.ssdh import FEATURES_FILE, THRESHOLDS_FILE, fit_thresholds, unit_rows
from deephash.models import create_backbone
from deephash.train import Batch, TrainConfig, fit, seed_everything


def test_registry_lists_every_method():
    expected = {"shc", "shc_paper", "shc_dist", "shc_sem", "csq", "hashnet", "triplet", "ssdh", "semicon", "lsh", "itq"}
    assert expected <= set(list_methods())


def test_center_targets_multilabel_tie_break():
    centers = torch.tensor([[1.0, 1, -1, -1], [1.0, -1, 1, -1]])
    tie = torch.tensor([1.0, 1, 1, 1])
    labels = torch.tensor([[1.0, 0], [1.0, 1]])
    targets = center_targets(labels, centers, tie)
    assert targets[0].tolist() == [1, 1, -1, -1]
    assert targets[1].tolist() == [1, 1, 1, -1]  # sum [2, 0, 0, -2]: zeros from the tie vector


def test_center_loss_gradient_moves_codes_toward_centre():
    target = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    u = torch.tensor([[0.2, 0.3, -0.4, -0.1]], requires_grad=True)
    loss = center_loss(u, target, quantization=1e-4)
    loss.backward()
    # gradient descent step u - g moves each coordinate toward the target's sign
    assert (torch.sign(-u.grad) == target).all()


def test_center_loss_value_hand_computed():
    u = torch.zeros(1, 2)
    target = torch.tensor([[1.0, -1.0]])
    # tanh(0) = 0 -> prediction 0.5 for every bit: BCE = log 2; quantisation (0 - 1)^2 = 1
    assert center_loss(u, target, 0.5).item() == pytest.approx(np.log(2) + 0.5)


def tiny_set(classes: int = 4, per_class: int = 8) -> ImageArrays:
    """Images whose brightness gives their class away: every method can learn it in a few steps."""
    labels = np.eye(classes, dtype=np.uint8).repeat(per_class, axis=0)
    noise = np.random.default_rng(0).random((len(labels), 8, 8, 1)) * 25
    images = (noise + labels.argmax(1)[:, None, None, None] * 60).astype(np.uint8)
    return ImageArrays(images, labels)


def write_targets(name: str, directory, data: ImageArrays, bits: int) -> None:
    """What the method's pre-stage would have written to targets/<name>/."""
    cls = method_class(name)
    if cls.prestage == "centers":
        centers, _ = cls.build_centers(data.labels.shape[1], bits, np.eye(data.labels.shape[1]), {})
        np.save(centers_file(directory, bits), centers)
    elif cls.prestage == "pseudo_similarity":
        unit = unit_rows(image_features(feature_extractor("pixels", None), data))
        np.save(directory / FEATURES_FILE, unit)
        (directory / THRESHOLDS_FILE).write_text(json.dumps(fit_thresholds(unit)))


def test_every_prestage_is_known():
    from deephash.methods.base import PRESTAGES

    assert {method_class(name).prestage for name in list_methods()} <= {None, *PRESTAGES}


SGD_METHODS = [name for name in list_methods() if not issubclass(method_class(name), ProjectionMethod)]


@pytest.mark.parametrize("name", SGD_METHODS)
def test_method_loss_falls_on_tiny_data(name, tmp_path):
    torch.manual_seed(0)
    bits = 16
    data = tiny_set()
    write_targets(name, tmp_path, data, bits)
    method = create_method(name, bits, data.labels.shape[1])
    method.load_targets(tmp_path, data.labels)
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    method.begin_training(network, data, TrainConfig(device="cpu"))
    images, labels = data.tensors(np.arange(len(data)), torch.device("cpu"))
    batch = Batch(images=images, labels=labels, index=torch.arange(len(data)))
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    method.begin_epoch(0, network, data)
    losses = []
    for step in range(30):
        method.step = step
        loss = method.loss(network(images), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


@pytest.mark.parametrize("name", list_methods())
def test_method_trains_and_encodes_through_the_loop(name, tmp_path):
    bits = 16
    data = tiny_set()
    write_targets(name, tmp_path, data, bits)
    closed_form = issubclass(method_class(name), ProjectionMethod)
    config = TrainConfig(epochs=0 if closed_form else 2, batch_size=16, device="cpu")

    def train() -> tuple[np.ndarray, np.ndarray | None]:
        method = create_method(name, bits, data.labels.shape[1])
        method.load_targets(tmp_path, data.labels)
        seed_everything(0)
        network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
        fit(network, method, data, config)
        return method.encode(network, data, config), method.train_codes()

    codes, learned = train()
    assert codes.shape == (len(data), bits // 8) and codes.dtype == np.uint8
    assert learned is None or learned.shape == codes.shape
    again, learned_again = train()  # same params and seed: the same codes, bit for bit
    np.testing.assert_array_equal(codes, again)
    assert (learned is None and learned_again is None) or np.array_equal(learned, learned_again)


def test_unknown_method_names_the_key():
    from deephash.errors import DeephashError

    with pytest.raises(DeephashError, match="methods: unknown method 'nope'"):
        method_class("nope")


def test_unknown_hyperparameter_names_the_key():
    from deephash.errors import DeephashError

    with pytest.raises(DeephashError, match=r"shc\.train\.lambda"):
        create_method("shc", 16, 4, {"lambda": 1})


@pytest.mark.parametrize(
    ("name", "fixed"),
    [
        ("shc_dist", {"variant": "distance_only"}),
        ("shc_sem", {"variant": "semantic_only"}),
        ("shc_paper", {"variant": "semantic", "polish": False}),
    ],
)
def test_shc_variants_fix_their_centre_options(name, fixed):
    from deephash.errors import DeephashError

    s = synthetic_similarity(10)
    centers, report = method_class(name).build_centers(10, 16, s, {"seed": 0})
    assert report["variant"] == fixed["variant"] and centers.shape == (10, 16)
    same, _ = method_class("shc").build_centers(10, 16, s, {"seed": 0, **fixed})
    np.testing.assert_array_equal(centers, same)
    for key in fixed:
        with pytest.raises(DeephashError, match=rf"{name}\.centers\.{key}: unknown key"):
            method_class(name).build_centers(10, 16, s, {key: fixed[key]})


def test_shc_paper_stops_after_the_alm_and_refuses_search_keys():
    from deephash.errors import DeephashError

    s = synthetic_similarity(10)
    _, paper = method_class("shc_paper").build_centers(10, 16, s, {"seed": 0})
    _, full = method_class("shc").build_centers(10, 16, s, {"seed": 0})
    assert set(paper["s_loss_stages"]) == {"init", "optimised"} and "polished" in full["s_loss_stages"]
    assert paper["s_loss_stages"]["optimised"] == full["s_loss_stages"]["optimised"]
    with pytest.raises(DeephashError, match=r"shc_paper\.centers\.search_rounds: unknown key"):
        method_class("shc_paper").build_centers(10, 16, s, {"search_rounds": 5})

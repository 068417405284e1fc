"""Every registered method, parametrised over the registry (in the spirit of timm's model tests)."""

import numpy as np
import pytest
import torch

from deephash.methods import create_method, list_methods, method_class
from deephash.methods.hash_centers import CenterMethod, center_loss, center_targets
from deephash.models import create_backbone
from deephash.train import Batch


def test_registry_lists_the_core_methods():
    assert {"shc", "csq"} <= set(list_methods())


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


@pytest.mark.parametrize("name", list_methods())
def test_method_loss_falls_on_tiny_data(name, tmp_path):
    torch.manual_seed(0)
    classes, bits = 4, 16
    cls = method_class(name)
    method = create_method(name, bits, classes)
    labels = np.eye(classes, dtype=np.uint8).repeat(8, axis=0)
    if issubclass(cls, CenterMethod):
        from deephash.methods.hash_centers import centers_file

        s = np.eye(classes)
        centers, _ = cls.build_centers(classes, bits, s, {})
        np.save(centers_file(tmp_path, bits), centers)
    method.load_targets(tmp_path, labels)
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    images = torch.rand(len(labels), 1, 8, 8) * 0.1 + torch.from_numpy(labels.argmax(1)).float().view(-1, 1, 1, 1) / 4
    batch = Batch(images=images, labels=torch.from_numpy(labels).float(), index=torch.arange(len(labels)))
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    losses = []
    for step in range(30):
        method.step = step
        loss = method.loss(network(images), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_unknown_method_names_the_key():
    from deephash.errors import DeephashError

    with pytest.raises(DeephashError, match="methods: unknown method 'nope'"):
        method_class("nope")


def test_unknown_hyperparameter_names_the_key():
    from deephash.errors import DeephashError

    with pytest.raises(DeephashError, match=r"shc\.train\.lambda"):
        create_method("shc", 16, 4, {"lambda": 1})

"""DNNH-style triplet hashing: the in-batch ranking hinge by hand, its margin, the divide-and-encode head."""

import numpy as np
import pytest
import torch

from deephash.errors import DeephashError
from deephash.methods import create_method
from deephash.methods.triplet import triplet_mask, triplet_ranking_loss
from deephash.models import create_backbone
from deephash.models.heads import DivideEncodeHead
from deephash.train import Batch

# a and p share a class, n does not
SIMILAR = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])


def test_triplets_are_mined_from_the_labels():
    mask = triplet_mask(SIMILAR)
    assert sorted(map(tuple, mask.nonzero().tolist())) == [(0, 1, 2), (1, 0, 2)]


def test_hinge_value_hand_computed():
    relaxed = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    # |a - n|^2 = |p - n|^2 = 1, |a - p|^2 = 0: both triplets give max(0, 2 - (1 - 0)) = 1
    assert triplet_ranking_loss(relaxed, SIMILAR, margin=2.0).item() == pytest.approx(1.0)
    assert triplet_ranking_loss(relaxed, SIMILAR, margin=0.5).item() == 0.0  # already ranked by the margin


def test_gradient_pushes_the_negative_away_and_pulls_the_positive_in():
    relaxed = torch.tensor([[0.9, 0.1], [0.6, 0.5], [0.7, 0.4]], requires_grad=True)
    triplet_ranking_loss(relaxed, SIMILAR, margin=1.0).backward()
    a, p, n = relaxed.detach()
    step = -relaxed.grad
    assert (step[2] @ (n - a)).item() > 0  # n moves away from a
    assert (step[1] @ (a - p)).item() > 0  # p moves toward a


def test_batch_without_triplets_gives_zero_with_a_graph():
    relaxed = torch.rand(3, 4, requires_grad=True)
    loss = triplet_ranking_loss(relaxed, torch.ones(3, 3), margin=1.0)
    loss.backward()
    assert loss.item() == 0.0 and relaxed.grad is not None


@pytest.mark.parametrize("bits", [16, 64])
def test_margin_scales_with_the_code_length(bits):
    method = create_method("triplet", bits, 2, {"margin": 0.3})
    batch = Batch(images=torch.zeros(4, 1, 8, 8), labels=torch.eye(2).repeat(2, 1), index=torch.arange(4))
    # u = 0: every relaxed code is 1/2 everywhere, every distance 0, every hinge equals the margin
    assert method.loss(torch.zeros(4, bits), batch).item() == pytest.approx(0.3 * bits)


def test_divide_and_encode_bit_sees_only_its_slice():
    head = DivideEncodeHead(10, 4)  # slices of 3, 3, 2, 2 features
    x = torch.randn(1, 10, requires_grad=True)
    jacobian = torch.autograd.functional.jacobian(head, x)[0, :, 0]  # [bits, features]
    support = (jacobian != 0).numpy()
    expected = np.zeros((4, 10), dtype=bool)
    for bit, cols in enumerate([range(0, 3), range(3, 6), range(6, 8), range(8, 10)]):
        expected[bit, list(cols)] = True
    np.testing.assert_array_equal(support, expected)


def test_divide_and_encode_needs_a_feature_per_bit():
    with pytest.raises(DeephashError, match="one feature per bit"):
        DivideEncodeHead(8, 16)


def test_head_option():
    backbone = create_backbone("smallcnn", in_channels=1, width=8)
    network = create_method("triplet", 16, 2, {"head": "divide_encode"}).build_network(backbone)
    assert isinstance(network.head, DivideEncodeHead) and network(torch.rand(2, 1, 8, 8)).shape == (2, 16)
    with pytest.raises(DeephashError, match=r"triplet\.train\.head"):
        create_method("triplet", 16, 2, {"head": "mlp"})

"""HashNet: the weighted pairwise logistic loss by hand, its linear guard, and the continuation."""

import math

import pytest
import torch

from deephash.errors import DeephashError
from deephash.methods import create_method
from deephash.methods.hashnet import continuation_scale, pairwise_logistic_loss
from deephash.train import Batch


def test_loss_value_hand_computed():
    # a and b similar (theta 1), c dissimilar to both (theta 0); 6 ordered pairs: |S1| 2, |S0| 4
    codes = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    similar = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])
    loss = pairwise_logistic_loss(codes, similar, alpha=1.0, threshold=15.0)
    similar_nll = math.log(1 + math.e) - 1  # log(1 + e^1) - 1 * 1
    dissimilar_nll = math.log(2)  # log(1 + e^0)
    expected = (2 * (6 / 2) * similar_nll + 4 * (6 / 4) * dissimilar_nll) / 6
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_gradient_pulls_similar_codes_together_and_pushes_dissimilar_apart():
    codes = torch.tensor([[0.5, 0.1], [0.4, -0.2], [0.3, 0.6]], requires_grad=True)
    similar = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])
    pairwise_logistic_loss(codes, similar, alpha=0.5, threshold=15.0).backward()
    step = -codes.grad  # gradient descent direction
    assert (step[0] @ codes[1]).item() > 0  # a moves toward b: <a, b> grows
    assert (step[0] @ codes[2]).item() < 0  # a moves away from c: <a, c> shrinks


def test_linear_guard_above_the_threshold():
    # a dissimilar pair with theta = 20: above the threshold the loss is exactly theta (1 - s)
    codes = torch.tensor([[2.0, 0.0], [10.0, 0.0]], dtype=torch.float64)
    similar = torch.eye(2, dtype=torch.float64)
    assert pairwise_logistic_loss(codes, similar, 1.0, threshold=15.0).item() == 20.0
    unguarded = pairwise_logistic_loss(codes, similar, 1.0, threshold=30.0).item()
    assert unguarded == pytest.approx(math.log1p(math.exp(20.0))) and unguarded != 20.0


def test_continuation_schedule_of_the_reference():
    beta = [continuation_scale(t, step_size=200, gamma=0.005, power=0.5) for t in (0, 199, 200, 399, 400, 10_000)]
    assert beta[0] == beta[1] == 1.0  # constant within a step
    assert beta[2] == beta[3] == pytest.approx(math.sqrt(2.0))  # (1 + 0.005 * 200)^0.5
    assert beta[4] == pytest.approx(math.sqrt(3.0))
    assert beta[5] == pytest.approx(math.sqrt(51.0))  # ~7.1 after 10k iterations: tanh ~ sign


def test_method_applies_beta_at_the_current_step():
    method = create_method("hashnet", 16, 3, {"step_size": 10, "gamma": 0.1})
    outputs = torch.randn(6, 16)
    labels = torch.eye(3).repeat(2, 1)
    batch = Batch(images=torch.zeros(6, 1, 8, 8), labels=labels, index=torch.arange(6))
    method.step = 25  # beta = (1 + 0.1 * 20)^0.5
    expected = pairwise_logistic_loss(
        torch.tanh(math.sqrt(3.0) * outputs), (labels @ labels.T > 0).float(), 10 / 16, 15
    )
    assert method.loss(outputs, batch).item() == pytest.approx(expected.item())


def test_step_size_is_validated():
    with pytest.raises(DeephashError, match=r"hashnet\.train\.step_size"):
        create_method("hashnet", 16, 3, {"step_size": 0})

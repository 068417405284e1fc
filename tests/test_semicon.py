"""SEMICON: bit split, the SEM mask, ICON, the ADSH loss by hand and its closed-form code update."""

import itertools

import numpy as np
import pytest
import torch
from conftest import torchrun

from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.methods import create_method
from deephash.methods.semicon import asymmetric_loss, similar_ratio, soft_similarity, update_codes
from deephash.models import create_backbone
from deephash.models.semicon import (
    InteractiveChannelTransformation,
    SemiconNetwork,
    SuppressionEnhancingMask,
    bit_split,
    suppression_mask,
)
from deephash.train import Batch, TrainConfig, fit, seed_everything


@pytest.mark.parametrize(
    ("bits", "split"),
    [(12, (6, 2, 2, 2)), (16, (10, 2, 2, 2)), (24, (12, 4, 4, 4)), (32, (17, 5, 5, 5)), (48, (24, 8, 8, 8)),
     (64, (34, 10, 10, 10))],
)  # fmt: skip
def test_bit_split_sums_to_the_code_length(bits, split):
    assert bit_split(bits) == split and sum(split) == bits


def test_bit_split_needs_a_bit_per_local_branch():
    with pytest.raises(DeephashError, match="at least 6 bits"):
        bit_split(4)


def test_suppression_mask_damps_the_peak_and_lifts_the_rest():
    attention = torch.tensor([[[[4.0, 0.0], [0.0, 1.0]]]])
    mask = suppression_mask(attention, alpha=0.15)
    assert ((mask >= 0) & (mask <= 2)).all()
    factor = (2 - mask).flatten()
    assert factor.argmin() == 0  # the strongest position is suppressed most
    assert (factor[1:] > 1).all()  # the weaker ones are enhanced


def test_sem_draws_each_map_after_suppressing_the_previous(monkeypatch):
    torch.manual_seed(0)
    sem = SuppressionEnhancingMask(8, alpha=0.15)  # training mode: batch statistics keep the maps alive
    for head in sem.heads[1:]:
        head.load_state_dict(sem.heads[0].state_dict())  # three identical heads
    x = torch.rand(2, 8, 4, 4)
    maps = sem(x)
    assert len(maps) == 3 and all(m.shape == (2, 1, 4, 4) for m in maps)
    assert not torch.allclose(maps[0], maps[1])  # same head, suppressed input: a different map
    monkeypatch.setattr("deephash.models.semicon.suppression_mask", lambda a, alpha: torch.ones_like(a))
    plain = sem(x)
    assert torch.allclose(plain[0], plain[1]) and torch.allclose(plain[1], plain[2])


def test_icon_mixes_channels_across_groups():
    torch.manual_seed(0)
    icon = InteractiveChannelTransformation(32).eval()  # 16 groups of 2 channels, then 2 groups of 16
    x = torch.rand(1, 32, 3, 3, requires_grad=True)
    out = icon(x)
    assert out.shape == x.shape
    out[0, 0].sum().backward()  # channel 0 lies in group 0 of the first round
    assert x.grad[0, 2:].abs().sum(dim=(1, 2)).gt(0).any()  # ...and still hears channels of other groups


def test_network_output_is_the_code_length_on_smallcnn_and_resnet():
    small = SemiconNetwork(create_backbone("smallcnn", in_channels=1, width=8), 16, alpha=0.15)
    assert small(torch.rand(2, 1, 8, 8)).shape == (2, 16)
    resnet = SemiconNetwork(create_backbone("resnet18", in_channels=3), 24, alpha=0.15)
    assert resnet(torch.rand(2, 3, 32, 32)).shape == (2, 24)


def test_soft_similarity_and_ratio():
    labels = torch.eye(3)[[0, 0, 1, 2]]
    ratio = similar_ratio(labels[:2], labels)  # rows 0, 1 share a class with items 0, 1: 4 of 8 pairs
    assert ratio == pytest.approx(4 / 4)
    ratio = similar_ratio(labels[2:], labels)  # 2 similar pairs of 8
    assert ratio == pytest.approx(2 / 6)
    np.testing.assert_allclose(soft_similarity(labels[2:3], labels, ratio), [[-1 / 3, -1 / 3, 1, -1 / 3]])


def test_asymmetric_loss_hand_computed():
    relaxed = torch.tensor([[0.5, 0.5]])
    codes = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    target = torch.tensor([[1.0, -0.5]])
    # (u.b0 - 2 * 1)^2 = 1, (u.b1 - 2 * -0.5)^2 = 1, gamma |u - b0|^2 = 2 * 0.5; / (n 2 * batch 1) * 12 / q 2
    loss = asymmetric_loss(relaxed, codes, codes[:1], target, gamma=2.0)
    assert loss.item() == pytest.approx((1 + 1 + 1.0) / 2 * 6)


def test_asymmetric_gradient_pulls_the_output_toward_similar_codes():
    relaxed = torch.tensor([[0.1, -0.2, 0.3, 0.0]], requires_grad=True)
    codes = torch.tensor([[1.0, 1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, -1.0]])
    target = torch.tensor([[1.0, -0.25]])  # similar to code 0 (its own), dissimilar to code 1
    asymmetric_loss(relaxed, codes, codes[:1], target, gamma=200.0).backward()
    step = -relaxed.grad[0]
    assert (step @ codes[0]).item() > 0 and (step @ codes[1]).item() < 0


def objective(codes, relaxed, rows, target, gamma):
    bits = codes.shape[1]
    return float(((relaxed @ codes.T - bits * target) ** 2).sum() + gamma * ((codes[rows] - relaxed) ** 2).sum())


def test_code_update_is_the_exact_column_minimiser():
    g = torch.Generator().manual_seed(0)
    n, bits = 5, 3
    codes = torch.randint(0, 2, (n, bits), generator=g).float() * 2 - 1
    rows = torch.tensor([0, 2, 3])
    relaxed = torch.rand(3, bits, generator=g) * 2 - 1
    target = soft_similarity(torch.eye(2)[[0, 1, 0]], torch.eye(2)[[0, 1, 0, 0, 1]], 0.5)
    updated = update_codes(codes, relaxed, rows, target, gamma=2.0)
    assert set(updated.unique().tolist()) <= {-1.0, 1.0}
    assert objective(updated, relaxed, rows, target, 2.0) <= objective(codes, relaxed, rows, target, 2.0)
    # the last column was solved with every other column final: no choice of it does better
    best = min(
        objective(torch.cat([updated[:, :-1], torch.tensor(col).view(n, 1)], 1), relaxed, rows, target, 2.0)
        for col in itertools.product([-1.0, 1.0], repeat=n)
    )
    assert objective(updated, relaxed, rows, target, 2.0) == pytest.approx(best)


def tiny(n=24):
    rng = np.random.default_rng(0)
    labels = np.eye(3, dtype=np.uint8)[np.arange(n) % 3]
    images = (rng.random((n, 8, 8, 1)) * 40 + labels.argmax(1)[:, None, None, None] * 90).astype(np.uint8)
    return ImageArrays(images, labels)


def test_only_the_sample_is_trained_on(tmp_path):
    data = tiny()
    method = create_method("semicon", 16, 3, {"num_samples": 5})
    method.load_targets(tmp_path, data.labels)
    method.begin_epoch(0, torch.nn.Identity(), data)
    assert int(method.sample.sum()) == 5
    outside = (~method.sample).nonzero().squeeze(1)[:4]
    batch = Batch(images=torch.zeros(4, 1, 8, 8), labels=torch.from_numpy(data.labels[outside]).float(), index=outside)
    outputs = torch.randn(4, 16, requires_grad=True)
    assert method.loss(outputs, batch).item() == 0.0


def test_training_updates_the_database_codes(tmp_path):
    data = tiny()
    method = create_method("semicon", 16, 3, {"max_epoch": 1})
    method.load_targets(tmp_path, data.labels)
    initial = method.codes.clone()
    seed_everything(0)
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    fit(network, method, data, TrainConfig(epochs=2, batch_size=8, device="cpu"))
    codes = method.train_codes()
    assert codes.shape == (len(data), 2) and not torch.equal(method.codes, initial)
    # learned codes group the classes: same-class codes agree more than different-class ones
    inner = method.codes @ method.codes.T
    same = torch.from_numpy(data.labels @ data.labels.T > 0)
    assert inner[same].mean() > inner[~same].mean()


def test_params_are_validated():
    with pytest.raises(DeephashError, match=r"semicon\.train\.max_epoch"):
        create_method("semicon", 16, 3, {"max_epoch": 0})


def test_ddp_replicas_share_one_database_code_update(tmp_path):
    """Under torchrun each process sees its own shard; the B update merges both, so replicas agree."""
    out = torchrun(
        """
        import numpy as np, torch, torch.distributed as dist
        from deephash.data.arrays import ImageArrays
        from deephash.methods import create_method
        from deephash.models import create_backbone
        from deephash.train import TrainConfig, fit, seed_everything
        labels = np.eye(3, dtype=np.uint8)[np.arange(24) % 3]
        rng = np.random.default_rng(0)
        data = ImageArrays((rng.random((24, 8, 8, 1)) * 255).astype(np.uint8), labels)
        method = create_method("semicon", 16, 3, {"max_epoch": 1})
        method.load_targets(None, labels)
        initial = method.codes.clone()
        seed_everything(0)
        net = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
        fit(net, method, data, TrainConfig(epochs=2, batch_size=4, device="cpu"))
        mine = int((method.stamp >= 0).sum())
        codes = torch.from_numpy(method.train_codes()).long()
        merged = int((method.relaxed.abs().sum(1) > 0).sum())
        gathered = [torch.zeros_like(codes) for _ in range(2)]
        dist.all_gather(gathered, codes)
        assert torch.equal(gathered[0], gathered[1]), "replicas hold different database codes"
        assert not torch.equal(method.codes, initial)
        assert merged == 2 * mine == 24, (merged, mine)
        if dist.get_rank() == 0:
            print("SEMICON-DDP-OK")
        """,
        tmp_path,
    )
    assert "SEMICON-DDP-OK" in out

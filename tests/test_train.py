import numpy as np
import pytest
import torch
from conftest import torchrun

from deephash.data.arrays import ImageArrays
from deephash.errors import DeephashError
from deephash.methods import create_method
from deephash.models import create_backbone
from deephash.resume import Checkpoint
from deephash.train import TrainConfig, augment, balanced_batches, epoch_batches, fit, predict, seed_everything


def tiny_data(rng, n=48, classes=4):
    labels = np.eye(classes, dtype=np.uint8)[rng.integers(0, classes, n)]
    images = (rng.random((n, 8, 8, 1)) * 60 + labels.argmax(1)[:, None, None, None] * 60).astype(np.uint8)
    return ImageArrays(images, labels)


def train_once(data, tmp_path, seed=0, method_name="shc", **options):
    """(network, outputs on data, method, fit result) of a short run; ``options`` go to TrainConfig/fit."""
    centers = np.where(np.random.default_rng(0).random((4, 16)) < 0.5, -1, 1).astype(np.int8)
    np.save(tmp_path / "centers-16.npy", centers)
    fit_args = {k: options.pop(k) for k in ("validate", "checkpoint", "callback") if k in options}
    config = TrainConfig(
        **{"epochs": 2, "batch_size": 16, "lr": 1e-3, "seed": seed, "pad": 1, "device": "cpu", **options}
    )
    method = create_method(method_name, 16, 4, {"max_epoch": 2} if method_name == "semicon" else {})
    method.load_targets(tmp_path, data.labels)
    seed_everything(seed)
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    result = fit(network, method, data, config, **fit_args)
    return network, predict(network, data, config), method, result


def weights(network):
    return b"".join(v.numpy().tobytes() for v in network.state_dict().values())


def test_fit_is_bit_identical_for_the_same_seed(rng, tmp_path):
    data = tiny_data(rng)
    a = train_once(data, tmp_path)[1]
    b = train_once(data, tmp_path)[1]
    c = train_once(data, tmp_path, seed=1)[1]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_epoch_batches_shard_disjointly():
    g = torch.Generator().manual_seed(0)
    whole = list(epoch_batches(40, 8, g, 0, 1))
    g0, g1 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    rank0 = list(epoch_batches(40, 8, g0, 0, 2))
    rank1 = list(epoch_batches(40, 8, g1, 1, 2))
    assert len(whole) == 5 and len(rank0) == len(rank1) == 2
    assert not set(np.concatenate(rank0)) & set(np.concatenate(rank1))


def test_balanced_batches_hold_per_class_images_of_each_class():
    labels = np.eye(10, dtype=np.uint8)[np.repeat(np.arange(10), 6)]
    labels[:3] = np.eye(10, dtype=np.uint8)[9]  # class 0 keeps 3 images: drawn with replacement
    batches = list(balanced_batches(labels, 8, 4, torch.Generator().manual_seed(0), 0, 1))
    assert len(batches) == 60 // 8
    for batch in batches:
        classes = labels[batch].argmax(1)
        assert len(batch) == 8 and sorted(np.bincount(classes, minlength=10)[np.unique(classes)]) == [4, 4]
    seen = np.concatenate([labels[b].argmax(1) for b in batches])
    assert len(np.unique(seen)) == 10  # a cycling class order visits every class before repeating one
    again = list(balanced_batches(labels, 8, 4, torch.Generator().manual_seed(0), 0, 1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_balanced_batches_give_each_rank_its_own_classes():
    labels = np.eye(6, dtype=np.uint8)[np.repeat(np.arange(6), 8)]
    ranks = [list(balanced_batches(labels, 8, 4, torch.Generator().manual_seed(1), r, 2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 48 // 16
    for a, b in zip(*ranks, strict=True):
        assert not set(labels[a].argmax(1)) & set(labels[b].argmax(1))


def test_balanced_sampler_is_refused_for_an_unsupervised_method(rng, tmp_path):
    data = tiny_data(rng, n=16)
    method = create_method("lsh", 16, 4)  # unsupervised, nothing to precompute
    network = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
    with pytest.raises(DeephashError, match="balanced"):
        fit(network, method, data, TrainConfig(epochs=1, batch_size=8, sampler="balanced", device="cpu"))


def test_augment_shapes():
    images = torch.rand(5, 3, 10, 12)
    g = torch.Generator().manual_seed(0)
    assert augment(images, TrainConfig(crop=8, hflip=True, pad=2), g, train=True).shape == (5, 3, 8, 8)
    assert augment(images, TrainConfig(crop=8), g, train=False).shape == (5, 3, 8, 8)
    with pytest.raises(DeephashError, match="larger"):
        augment(images, TrainConfig(crop=16), g, train=False)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"epochs": -1}, "train.epochs"),
        ({"optimizer": "lion"}, "train.optimizer"),
        ({"lrr": 1}, "train.lrr"),
        ({"sampler": "pk"}, "train.sampler"),
        ({"per_class": 0}, "train.per_class"),
        ({"select": "best_val", "val_every": 0}, "train.select"),
        ({"select": "best"}, "train.select"),
        ({"val_every": -1}, "train.val_every"),
        ({"precision": "fp8"}, "train.precision"),
        ({"workers": -2}, "train.workers"),
    ],
)
def test_bad_train_params_name_the_key(params, key):
    with pytest.raises(DeephashError, match=key.replace(".", r"\.")):
        TrainConfig.from_params(params)


def test_torchrun_ddp_two_processes(tmp_path):
    """The DDP path: two gloo processes under torchrun train one shared model."""
    out = torchrun(
        f"""
        import numpy as np, torch, torch.distributed as dist
        from deephash.data.arrays import ImageArrays
        from deephash.methods import create_method
        from deephash.models import create_backbone
        from deephash.train import TrainConfig, fit, seed_everything
        rng = np.random.default_rng(0)
        labels = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, 64)]
        data = ImageArrays((rng.random((64, 8, 8, 1)) * 255).astype(np.uint8), labels)
        np.save({str(tmp_path)!r} + "/centers-16.npy", np.where(rng.random((4, 16)) < .5, -1, 1).astype(np.int8))
        method = create_method("shc", 16, 4)
        method.load_targets({str(tmp_path)!r}, labels)
        seed_everything(0)
        net = method.build_network(create_backbone("smallcnn", in_channels=1, width=8))
        fit(net, method, data, TrainConfig(epochs=2, batch_size=8, device="cpu"))
        flat = torch.cat([p.detach().flatten() for p in net.parameters()])
        gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, flat)
        assert torch.equal(gathered[0], gathered[1]), "replicas diverged"
        if dist.get_rank() == 0:
            print("DDP-OK", dist.get_world_size())
        """,
        tmp_path,
    )
    assert "DDP-OK 2" in out


def scripted(scores, seen):
    """A validator returning ``scores`` in turn, recording the weights it was shown."""
    it = iter(scores)

    def validate(network):
        seen.append(weights(network))
        return next(it)

    return validate


def test_validation_does_not_change_training_and_last_keeps_the_final_weights(rng, tmp_path):
    data = tiny_data(rng)
    plain, out, _, result = train_once(data, tmp_path, epochs=4)
    seen = []
    logged = []
    net, out_val, _, with_val = train_once(
        data, tmp_path, epochs=4, val_every=1, validate=scripted([0.1, 0.4, 0.2, 0.3], seen),
        callback=lambda epoch, stats: logged.append(stats),
    )  # fmt: skip
    assert torch.equal(out, out_val) and weights(net) == weights(plain) == seen[-1]
    assert result.epoch == with_val.epoch == 4 and with_val.val_map == 0.3 and result.val_map is None
    assert [s["val_map"] for s in logged] == [0.1, 0.4, 0.2, 0.3]


def test_best_val_keeps_the_best_epoch_the_log_shows_ties_to_the_earliest(rng, tmp_path):
    data = tiny_data(rng)
    seen = []
    scores = [0.1, 0.5, 0.3, 0.5, 0.2]  # val_every 2 over 9 epochs: epochs 2, 4, 6, 8 and the last (9)
    net, _, _, result = train_once(
        data, tmp_path, epochs=9, val_every=2, select="best_val", validate=scripted(scores, seen)
    )
    assert [round(s["val_map"], 3) for s in result.history if "val_map" in s] == scores
    assert result.epoch == 4 and result.val_map == 0.5
    assert weights(net) == seen[1] != seen[-1]


def test_val_every_without_a_validator_is_refused(rng, tmp_path):
    with pytest.raises(DeephashError, match="val_every"):
        train_once(tiny_data(rng), tmp_path, val_every=1)


class Interrupt(Exception):
    pass


def stop_after(epoch):
    def callback(e, stats):
        if e + 1 == epoch:
            raise Interrupt

    return callback


@pytest.mark.parametrize("method_name", ["shc", "hashnet", "semicon"])
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(rng, tmp_path, method_name):
    """The in-process twin of test_resume's SIGKILL test: per-epoch method state (SEMICON's codes B and
    generator, HashNet's step) survives the checkpoint."""
    data = tiny_data(rng)
    whole, out, method, _ = train_once(data, tmp_path, method_name=method_name, epochs=4)
    check = Checkpoint(tmp_path / "ckpt" / "last.pt", {"method": method_name}, "same")
    with pytest.raises(Interrupt):
        train_once(data, tmp_path, method_name=method_name, epochs=4, checkpoint=check, callback=stop_after(2))
    assert torch.load(check.path, weights_only=True)["epoch"] == 1  # the epoch-2 callback raised before saving
    resumed, out2, method2, _ = train_once(data, tmp_path, method_name=method_name, epochs=4, checkpoint=check)
    assert torch.equal(out, out2) and weights(whole) == weights(resumed)
    codes = method.train_codes()
    assert codes is None or np.array_equal(codes, method2.train_codes())


def test_bf16_autocast_trains_on_cpu(rng, tmp_path):
    data = tiny_data(rng)
    _, out, _, result = train_once(data, tmp_path, precision="bf16")
    assert torch.isfinite(out).all() and np.isfinite(result.history[-1]["loss"])
    assert not torch.equal(out, train_once(data, tmp_path)[1])  # it did run in another precision


def test_fp16_with_grad_scaler_on_cpu(rng, tmp_path):
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            torch.ones(2, 2) @ torch.ones(2, 2)
    except RuntimeError:
        pytest.skip("this torch has no fp16 autocast on CPU")
    _, out, _, result = train_once(tiny_data(rng), tmp_path, precision="fp16")
    assert torch.isfinite(out).all() and np.isfinite(result.history[-1]["loss"])


def test_cuda_asked_without_cuda_is_one_line(rng, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(DeephashError, match="CUDA is not available"):
        train_once(tiny_data(rng), tmp_path, device="cuda")

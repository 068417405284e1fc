import pytest
import torch
from torch import nn

from deephash.errors import DeephashError
from deephash.models import create_backbone, list_backbones


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_builds_and_runs(name):
    size = 8 if name == "smallcnn" else 32
    net = create_backbone(name, in_channels=1)
    out = net(torch.rand(2, 1, size, size))
    assert out.shape == (2, net.out_features)


def test_unknown_backbone_names_the_key():
    with pytest.raises(DeephashError, match=r"train\.backbone: unknown backbone 'vgg99'"):
        create_backbone("vgg99", in_channels=3, key="train.backbone")


def test_imagenet_weights_load_offline_from_torch_home(tmp_path, monkeypatch):
    """The real loading path, fed by a file the test writes where torchvision looks for it."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.hub.set_dir(str(tmp_path / "hub"))
    with pytest.raises(DeephashError, match=r"resnet18-f37072fd\.pth"):
        create_backbone("resnet18", in_channels=3, weights="imagenet")
    reference = torchvision.models.resnet18()
    with torch.no_grad():
        reference.conv1.weight.fill_(0.5)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(reference.state_dict(), checkpoints / "resnet18-f37072fd.pth")
    net = create_backbone("resnet18", in_channels=3, weights="imagenet")
    assert torch.equal(net.net.conv1.weight, reference.conv1.weight)


def test_weights_file_is_checked(tmp_path):
    with pytest.raises(DeephashError, match="weights file not found"):
        create_backbone("resnet18", in_channels=3, weights_file=str(tmp_path / "none.pt"))
    bad = tmp_path / "bad.pt"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(DeephashError, match="not resnet18 weights"):
        create_backbone("resnet18", in_channels=3, weights_file=str(bad))


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_splits_into_a_trunk_and_its_last_stage(name):
    backbone = create_backbone(name, in_channels=1)
    trunk, blocks, channels = backbone.trunk()
    x = torch.rand(2, 1, 32, 32)
    features = trunk(x)
    assert features.ndim == 4 and features.shape[1] == channels
    out = nn.Sequential(*blocks)(features).mean((2, 3))
    assert out.shape == (2, backbone.channels)


def test_a_backbone_without_stages_has_no_trunk():
    from deephash.models import Backbone

    with pytest.raises(DeephashError, match="has no trunk to split"):
        Backbone().trunk()


def _blob_at(column: int) -> torch.Tensor:
    """One 8x96 image, dark but for a bright 8x8 square from ``column``."""
    image = torch.zeros(1, 1, 8, 96)
    image[..., column : column + 8] = 1.0
    return image


@torch.no_grad()
def test_smallcnn_grid_keeps_where_a_digit_is_and_global_pooling_does_not():
    """The same square 32 px further right: a global average sees the same features (translation
    equivariance, borders untouched), so a left/right class could not be read from them; a 1x2 grid
    puts the square's response in the other cell."""
    left, right = _blob_at(24), _blob_at(56)
    pooled = create_backbone("smallcnn", in_channels=1, grid=[1, 1]).eval()
    assert pooled.out_features == 128
    a, b = pooled(left), pooled(right)
    assert (a - b).abs().max() < 1e-4 * a.abs().max()
    halves = create_backbone("smallcnn", in_channels=1, grid=[1, 2]).eval()
    assert halves.out_features == 256 and halves.channels == 128
    a, b = halves(left), halves(right)
    assert (a - b).abs().max() > 0.1 * a.abs().max()


def test_smallcnn_default_grid_is_two_by_two():
    net = create_backbone("smallcnn", in_channels=1, width=8)
    assert net.out_features == 4 * 8 * 4 and net(torch.rand(3, 1, 8, 16)).shape == (3, 128)


@pytest.mark.parametrize("bad", [[0, 2], [2], "2x2", [1.5, 2], [True, 2]])
def test_a_bad_grid_names_the_key(bad):
    with pytest.raises(DeephashError, match=r"backbone\.grid"):
        create_backbone("smallcnn", in_channels=1, grid=bad)

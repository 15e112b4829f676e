import pytest
import torch
from torch import nn

from synthreid.refine.errors import RefineError
from synthreid.refine.networks import ResnetBlock, build_discriminator, build_generator

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("size", [(128, 64), (256, 128)])
def test_generator_shape_and_range(size):
    g = build_generator("resnet_9blocks", generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 3, *size) * 2 - 1
    with torch.no_grad():
        y = g(x * 50)  # large inputs saturate tanh; output must still be in [-1, 1]
    assert y.shape == (2, 3, *size)
    assert y.min() >= -1 and y.max() <= 1


@pytest.mark.parametrize("size,patch", [((128, 64), (14, 6)), ((256, 128), (30, 14))])
def test_discriminator_patch_shape(size, patch):
    d = build_discriminator("basic", n_layers=3)
    with torch.no_grad():
        y = d(torch.zeros(1, 3, *size))
    assert y.shape == (1, 1, *patch)


def test_generator_layout_matches_design():
    g = build_generator("resnet_9blocks")
    mods = list(g.model)
    assert isinstance(mods[0], nn.ReflectionPad2d) and mods[0].padding == (3, 3, 3, 3)
    assert isinstance(mods[1], nn.Conv2d) and mods[1].kernel_size == (7, 7) and mods[1].out_channels == 64
    down = [m for m in mods if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in down] == [
        (64, 128, (3, 3)),
        (128, 256, (3, 3)),
    ]
    assert sum(isinstance(m, ResnetBlock) for m in mods) == 9
    up = [m for m in mods if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.output_padding) for m in up] == [
        (256, 128, (1, 1)),
        (128, 64, (1, 1)),
    ]
    assert isinstance(mods[-1], nn.Tanh) and isinstance(mods[-3], nn.ReflectionPad2d)
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine for m in norms)
    assert not any(isinstance(m, (nn.Dropout, nn.BatchNorm2d)) for m in g.modules())
    assert sum(isinstance(m, ResnetBlock) for m in build_generator("resnet_6blocks").model) == 6


def test_discriminator_layout_matches_design():
    mods = list(build_discriminator("basic").model)
    convs = [m for m in mods if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 64, 2),
        (64, 128, 2),
        (128, 256, 2),
        (256, 512, 1),
        (512, 1, 1),
    ]
    assert all(c.kernel_size == (4, 4) for c in convs)
    assert isinstance(mods[1], nn.LeakyReLU) and mods[1].negative_slope == 0.2  # no norm after the first conv
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in mods) == 3


def test_init_is_normal_002_and_seeded():
    g1 = build_generator("resnet_6blocks", generator=torch.Generator().manual_seed(3))
    g2 = build_generator("resnet_6blocks", generator=torch.Generator().manual_seed(3))
    w = torch.cat([m.weight.flatten() for m in g1.modules() if isinstance(m, nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
    assert all(m.bias.abs().max() == 0 for m in g1.modules() if isinstance(m, nn.Conv2d))
    for p1, p2 in zip(g1.parameters(), g2.parameters(), strict=True):
        assert torch.equal(p1, p2)


def test_unknown_names_list_valid_ones():
    with pytest.raises(RefineError, match="resnet_9blocks.*resnet_6blocks"):
        build_generator("unet_256")
    with pytest.raises(RefineError, match="basic"):
        build_discriminator("pixel")

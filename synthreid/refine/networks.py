"""Generators and discriminators of the refiners (design §6, CycleGAN reference defaults).

Images are float tensors (N, 3, H, W) in [-1, 1]; H and W divisible by 4. InstanceNorm
has no affine parameters and keeps no running statistics, so train and eval modes agree.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

from synthreid.refine.errors import RefineError

GENERATOR_BLOCKS = {"resnet_9blocks": 9, "resnet_6blocks": 6}
DISCRIMINATORS = ("basic",)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """x + [ReflPad1, conv3x3, IN, ReLU, ReflPad1, conv3x3, IN](x), channels unchanged."""

    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=True),
            _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """(N, 3, H, W) -> (N, 3, H, W) in [-1, 1]: c7s1-ngf, d2ngf, d4ngf, n_blocks x R4ngf, u2ngf, ungf, c7s1-3."""

    def __init__(self, n_blocks: int = 9, ngf: int = 64, in_ch: int = 3, out_ch: int = 3):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_ch, ngf, 7, bias=True),
            _norm(ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                _norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True
                ),
                _norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_ch, 7, bias=True), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: (N, 3, H, W) -> (N, 1, h, w) raw scores; n_layers=3 is the 70x70 receptive field.

    conv4x4 s2 3->ndf, LeakyReLU 0.2 (no norm); n_layers-1 conv4x4 s2 with IN, LReLU doubling
    channels (at most 8*ndf); conv4x4 s1, IN, LReLU; conv4x4 s1 -> 1. Padding 1 throughout.
    """

    def __init__(self, ndf: int = 64, n_layers: int = 3, in_ch: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=True),
                _norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=True),
            _norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def init_weights(net: ModuleT, generator: torch.Generator | None = None, std: float = 0.02) -> ModuleT:
    """Conv weights ~ N(0, std), biases 0 (the reference 'normal' init), drawn from ``generator``."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def build_generator(
    name: str = "resnet_9blocks", ngf: int = 64, generator: torch.Generator | None = None
) -> ResnetGenerator:
    """A ResNet generator by name (``resnet_9blocks`` or ``resnet_6blocks``), initialised."""
    if name not in GENERATOR_BLOCKS:
        raise RefineError(f"generator: unknown {name!r}, expected one of {', '.join(GENERATOR_BLOCKS)}")
    return init_weights(ResnetGenerator(GENERATOR_BLOCKS[name], ngf), generator)


def build_discriminator(
    name: str = "basic", n_layers: int = 3, ndf: int = 64, generator: torch.Generator | None = None
) -> NLayerDiscriminator:
    """A PatchGAN discriminator by name (``basic`` = 70x70 PatchGAN with n_layers=3), initialised."""
    if name not in DISCRIMINATORS:
        raise RefineError(f"discriminator: unknown {name!r}, expected one of {', '.join(DISCRIMINATORS)}")
    if not isinstance(n_layers, int) or n_layers < 1:
        raise RefineError(f"n_layers: expected an integer >= 1, got {n_layers!r}")
    return init_weights(NLayerDiscriminator(ndf, n_layers), generator)

"""OSNet, the omni-scale re-ID backbone (Zhou, Yang, Cavallaro, Xiang, "Omni-Scale Feature Learning
for Person Re-Identification", ICCV 2019), written from the paper.

Each bottleneck splits into T = 4 streams of 1..4 stacked "lite 3x3" layers (pointwise 1x1 then
depthwise 3x3), so the streams see receptive fields of 3, 5, 7 and 9 pixels; one *unified
aggregation gate* (shared by all streams: global pool -> FC -> ReLU -> FC -> sigmoid) weighs
each stream's channels before they are summed. Layout (paper Table 1, x1.0 channels 64, 256,
384, 512): 7x7/2 stem + 3x3/2 max pool; stages of 2 bottlenecks with a 1x1 conv + 2x2 average
pool transition between them; a final 1x1 conv. Total stride 16: a 128x64 input gives 8x4 maps.
Width multipliers scale every channel count (x0.5: 32, 128, 192, 256).
"""

from __future__ import annotations

import torch
from torch import nn

# x1.0 channel widths of the stem and the three stages (paper Table 1)
BASE_CHANNELS = (64, 256, 384, 512)
STREAMS = 4  # T: streams of 1..T lite 3x3 layers
REDUCTION = 4  # bottleneck: mid channels = out / 4
GATE_REDUCTION = 16  # aggregation gate hidden units = mid / 16 (at least 1)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class LiteConv3x3(nn.Sequential):
    """Pointwise 1x1 (linear) then depthwise 3x3, BN, ReLU: a 3x3 conv at a fraction of its cost."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.Conv2d(cout, cout, 3, 1, 1, groups=cout, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class AggregationGate(nn.Module):
    """Channel weights in (0, 1) from the globally pooled input; one instance serves every stream."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = max(1, channels // GATE_REDUCTION)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        g = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(g))))


class OSBlock(nn.Module):
    """Omni-scale residual bottleneck: 1x1 reduce, T gated streams summed, 1x1 expand (linear) + skip."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = max(1, cout // REDUCTION)
        self.reduce = ConvBNReLU(cin, mid, 1)
        self.streams = nn.ModuleList(
            nn.Sequential(*[LiteConv3x3(mid, mid) for _ in range(t)]) for t in range(1, STREAMS + 1)
        )
        self.gate = AggregationGate(mid)
        self.expand = ConvBNReLU(mid, cout, 1, relu=False)
        self.skip = ConvBNReLU(cin, cout, 1, relu=False) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.reduce(x)
        agg = sum(self.gate(s(h)) for s in self.streams)
        return torch.relu(self.expand(agg) + self.skip(x))


def osnet(width: float = 1.0, blocks: tuple[int, int, int] = (2, 2, 2)) -> tuple[nn.Sequential, int]:
    """OSNet body at width multiplier ``width`` (0.25, 0.5, 0.75, 1.0 in the paper);
    returns (images (N, 3, H, W) -> feature maps (N, C, H/16, W/16), C)."""
    if width <= 0:
        raise ValueError(f"osnet: width multiplier must be > 0 (got {width})")
    c0, c1, c2, c3 = (max(4, int(round(c * width / 4)) * 4) for c in BASE_CHANNELS)
    layers: list[nn.Module] = [ConvBNReLU(3, c0, 7, stride=2), nn.MaxPool2d(3, 2, 1)]
    cin = c0
    for stage, (cout, n) in enumerate(zip((c1, c2, c3), blocks, strict=True)):
        for _ in range(n):
            layers.append(OSBlock(cin, cout))
            cin = cout
        if stage < 2:  # transition: 1x1 conv + 2x2 average pool
            layers += [ConvBNReLU(cout, cout, 1), nn.AvgPool2d(2, 2)]
    layers.append(ConvBNReLU(c3, c3, 1))  # conv5
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net, c3

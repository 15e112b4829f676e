"""Re-ID networks: a registry with Open-ReID's InceptionNet and torchvision's ResNet-50.

Every model maps images (N, 3, H, W) to ``(features, logits)``: ``features`` (N, num_features)
is the embedding used for retrieval (after BN and ReLU, or L2-normalised with ``norm``; before
dropout), ``logits`` (N, num_classes) the softmax classifier's output (None if num_classes=0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synthreid.errors import SynthreidError

# Input size (height, width) each architecture was designed for.
INPUT_SIZE = {"inception": (144, 56), "resnet50": (256, 128), "tiny": (64, 32)}


class ModelError(SynthreidError, ValueError):
    """Unknown architecture or unusable weights."""


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, padding, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class Block(nn.Module):
    """Inception block: out channels 4*out ('Avg', stride 1) or 2*out + in ('Max')."""

    def __init__(self, cin: int, out: int, pool: str, stride: int):
        super().__init__()
        if pool not in ("Avg", "Max") or (pool == "Avg" and stride != 1):
            raise ModelError(f"Block: pool {pool!r} with stride {stride} is not a valid combination")
        branches = [nn.Sequential(_conv(cin, out, 1, padding=0), _conv(out, out, stride=stride)),
                    nn.Sequential(_conv(cin, out, 1, padding=0), _conv(out, out), _conv(out, out, stride=stride))]
        if pool == "Avg":
            branches += [_conv(cin, out, 1, padding=0),
                         nn.Sequential(nn.AvgPool2d(3, 1, 1), _conv(cin, out, 1, padding=0))]
            self.out_channels = 4 * out
        else:
            branches.append(nn.MaxPool2d(3, stride, 1))
            self.out_channels = 2 * out + cin
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class Head(nn.Module):
    """Pooled backbone features -> Linear+BN1d embedding -> ReLU/L2 -> dropout -> classifier."""

    def __init__(self, in_features: int, num_features: int, num_classes: int, dropout: float, norm: bool):
        super().__init__()
        self.norm = norm
        if num_features > 0:
            self.feat = nn.Linear(in_features, num_features)
            self.feat_bn = nn.BatchNorm1d(num_features)
        else:
            self.feat = self.feat_bn = None
            num_features = in_features
        self.num_features = num_features
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(num_features, num_classes) if num_classes > 0 else None
        for m in (self.feat, self.classifier):
            if m is not None:
                nn.init.normal_(m.weight, std=0.001)
                nn.init.zeros_(m.bias)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier for ``num_classes`` identities (finetuning)."""
        device = self.feat_bn.weight.device if self.feat_bn is not None else None
        self.classifier = nn.Linear(self.num_features, num_classes).to(device)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        if self.feat is not None:
            x = self.feat_bn(self.feat(x))
        x = F.normalize(x) if self.norm else (F.relu(x) if self.feat is not None else x)
        logits = self.classifier(self.drop(x)) if self.classifier is not None else None
        return x, logits


class ReidNet(nn.Module):
    """Backbone (images -> (N, C, h, w)) + global average pool + :class:`Head`."""

    def __init__(self, backbone: nn.Module, channels: int, num_classes: int, num_features: int,
                 dropout: float, norm: bool, arch: str):
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        self.head = Head(channels, num_features, num_classes, dropout, norm)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.backbone(x), 1).flatten(1)
        return self.head(x)

    def feature_parameters(self):
        """Parameters of the feature network (everything but the classifier)."""
        cls = set(map(id, self.head.classifier.parameters())) if self.head.classifier is not None else set()
        return [p for p in self.parameters() if id(p) not in cls]


def inception_backbone() -> tuple[nn.Sequential, int]:
    layers = [_conv(3, 32), _conv(32, 32), _conv(32, 32), nn.MaxPool2d(2, 2, padding=1)]
    cin = 32
    for out, pool, stride in ((64, "Avg", 1), (64, "Max", 2), (128, "Avg", 1), (128, "Max", 2),
                              (256, "Avg", 1), (256, "Max", 2)):
        block = Block(cin, out, pool, stride)
        layers.append(block)
        cin = block.out_channels
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net, cin


def resnet50_backbone(weights: str | None = None) -> tuple[nn.Sequential, int]:
    """torchvision ResNet-50 up to layer4 (2048 channels); ``weights`` a state_dict file or None."""
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    if weights:
        from synthreid.weights import load_weights

        state = load_weights(weights, ModelError, "ResNet-50 weights file")  # weights-only: nothing runs
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        missing, unexpected = net.load_state_dict(state, strict=False)
        core_missing = [k for k in missing if not k.startswith("fc.")]
        if core_missing:
            raise ModelError(f"{weights}: not ResNet-50 weights (missing e.g. {core_missing[:3]})")
    body = nn.Sequential(*(list(net.children())[:-2]))
    return body, 2048


def _inception(num_classes, num_features, dropout, norm, weights=None):
    if weights:
        raise ModelError("inception: pretrained weights are not supported (trained from scratch)")
    body, ch = inception_backbone()
    return ReidNet(body, ch, num_classes, num_features, dropout, norm, "inception")


def _resnet50(num_classes, num_features, dropout, norm, weights=None):
    body, ch = resnet50_backbone(weights)
    return ReidNet(body, ch, num_classes, num_features, dropout, norm, "resnet50")


def _tiny(num_classes, num_features, dropout, norm, weights=None):
    """A 4-conv network (16-32-64-128 channels) for smoke tests and the CPU demo only."""
    if weights:
        raise ModelError("tiny: pretrained weights are not supported")
    body = nn.Sequential(_conv(3, 16), nn.MaxPool2d(2), _conv(16, 32), nn.MaxPool2d(2),
                         _conv(32, 64), nn.MaxPool2d(2), _conv(64, 128))
    for m in body.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
    return ReidNet(body, 128, num_classes, num_features, dropout, norm, "tiny")


REGISTRY = {"inception": _inception, "resnet50": _resnet50, "tiny": _tiny}


def names() -> list[str]:
    return sorted(REGISTRY)


def build(name: str, num_classes: int, num_features: int = 128, dropout: float = 0.5, norm: bool = False,
          weights: str | None = None) -> ReidNet:
    """A re-ID network by architecture name (see :func:`names`); ``weights`` for resnet50 only."""
    if name not in REGISTRY:
        raise ModelError(f"unknown model {name!r}; valid: {', '.join(names())}")
    if num_classes < 0 or num_features < 0 or not 0 <= dropout < 1:
        raise ModelError(f"{name}: need num_classes >= 0, num_features >= 0, 0 <= dropout < 1 "
                         f"(got {num_classes}, {num_features}, {dropout})")
    return REGISTRY[name](num_classes, num_features, dropout, norm, weights)

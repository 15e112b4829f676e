"""Re-ID networks: a registry with Open-ReID's InceptionNet, torchvision's ResNet-50, OSNet
(``osnet``, from its paper) and timm's compact CPU-friendly families (trained from scratch).

Every model maps images (N, 3, H, W) to ``(features, logits)``: ``features`` (N, num_features)
is the embedding used for retrieval (after BN and ReLU, or L2-normalised with ``norm``; before
dropout), ``logits`` (N, num_classes) the softmax classifier's output (None if num_classes=0).
With the BN-neck head (``neck="bn"``, Luo et al. 2019, "Bag of Tricks") the classifier reads the
batch-normalised pooled feature; retrieval uses that BN feature (eval mode) while training mode
returns the feature before BN (the one a metric loss such as triplet acts on).
"""

from __future__ import annotations

import pickle
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from synthreid.benchmark.osnet import osnet
from synthreid.errors import SynthreidError

# Input size (height, width) each architecture was designed for.
INPUT_SIZE = {
    "inception": (144, 56),
    "resnet50": (256, 128),
    "tiny": (64, 32),
    "osnet_x0_25": (256, 128),
    "osnet_x0_5": (256, 128),
    "osnet_x1_0": (256, 128),
    "mobilenetv3_small": (256, 128),
    "mobilenetv3_large": (256, 128),
    "efficientnet_lite0": (256, 128),
    "regnetx_002": (256, 128),
}
NECKS = ("fc", "bn")


class ModelError(SynthreidError, ValueError):
    """Unknown architecture or unusable weights."""


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Block(nn.Module):
    """Inception block: out channels 4*out ('Avg', stride 1) or 2*out + in ('Max')."""

    def __init__(self, cin: int, out: int, pool: str, stride: int):
        super().__init__()
        if pool not in ("Avg", "Max") or (pool == "Avg" and stride != 1):
            raise ModelError(f"Block: pool {pool!r} with stride {stride} is not a valid combination")
        branches: list[nn.Module] = [
            nn.Sequential(_conv(cin, out, 1, padding=0), _conv(out, out, stride=stride)),
            nn.Sequential(_conv(cin, out, 1, padding=0), _conv(out, out), _conv(out, out, stride=stride)),
        ]
        if pool == "Avg":
            branches += [
                _conv(cin, out, 1, padding=0),
                nn.Sequential(nn.AvgPool2d(3, 1, 1), _conv(cin, out, 1, padding=0)),
            ]
            self.out_channels = 4 * out
        else:
            branches.append(nn.MaxPool2d(3, stride, 1))
            self.out_channels = 2 * out + cin
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class Head(nn.Module):
    """Pooled backbone features -> embedding -> classifier.

    ``neck="fc"`` (Open-ReID): Linear+BN1d embedding -> ReLU/L2 -> dropout -> classifier.
    ``neck="bn"`` (BN-neck): optional Linear reduction to ``num_features`` (0 = keep the pooled
    width) -> BN1d without shift -> dropout -> bias-free classifier; features as in the module doc.
    """

    def __init__(
        self,
        in_features: int,
        num_features: int,
        num_classes: int,
        dropout: float,
        norm: bool,
        neck: str = "fc",
    ):
        super().__init__()
        if neck not in NECKS:
            raise ModelError(f"unknown neck {neck!r}; valid: {', '.join(NECKS)}")
        self.norm, self.neck = norm, neck
        self.feat: nn.Linear | None
        self.feat_bn: nn.BatchNorm1d | None
        if num_features > 0:
            self.feat = nn.Linear(in_features, num_features)
            self.feat_bn = nn.BatchNorm1d(num_features)
        else:
            self.feat = None
            num_features = in_features
            self.feat_bn = nn.BatchNorm1d(num_features) if neck == "bn" else None
        if neck == "bn" and self.feat_bn is not None:
            # a BN shift would only offset every feature alike (Bag of Tricks): frozen at zero
            self.feat_bn.bias.requires_grad_(False)
        self.num_features = num_features
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = self._new_classifier(num_classes) if num_classes > 0 else None
        if self.feat is not None:
            nn.init.normal_(self.feat.weight, std=0.001 if neck == "fc" else 0.01)
            nn.init.zeros_(self.feat.bias)

    def _new_classifier(self, num_classes: int) -> nn.Linear:
        bias = self.neck == "fc"
        cls = nn.Linear(self.num_features, num_classes, bias=bias)
        nn.init.normal_(cls.weight, std=0.001)
        if bias:
            nn.init.zeros_(cls.bias)
        return cls

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier for ``num_classes`` identities (finetuning)."""
        device = self.feat_bn.weight.device if self.feat_bn is not None else None
        self.classifier = self._new_classifier(num_classes).to(device)

    def forward(self, x):
        if self.neck == "bn":
            pre = self.feat(x) if self.feat is not None else x
            x = cast(nn.BatchNorm1d, self.feat_bn)(pre)  # set whenever neck == "bn"
            logits = self.classifier(self.drop(x)) if self.classifier is not None else None
            if self.training:
                return pre, logits
            return (F.normalize(x) if self.norm else x), logits
        if self.feat is not None:
            x = cast(nn.BatchNorm1d, self.feat_bn)(self.feat(x))  # set whenever feat is
        x = F.normalize(x) if self.norm else (F.relu(x) if self.feat is not None else x)
        logits = self.classifier(self.drop(x)) if self.classifier is not None else None
        return x, logits


class ReidNet(nn.Module):
    """Backbone (images -> (N, C, h, w)) + global average pool + :class:`Head`."""

    def __init__(
        self,
        backbone: nn.Module,
        channels: int,
        num_classes: int,
        num_features: int,
        dropout: float,
        norm: bool,
        arch: str,
        neck: str = "fc",
    ):
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        self.head = Head(channels, num_features, num_classes, dropout, norm, neck)

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
    for out, pool, stride in (
        (64, "Avg", 1),
        (64, "Max", 2),
        (128, "Avg", 1),
        (128, "Max", 2),
        (256, "Avg", 1),
        (256, "Max", 2),
    ):
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


def load_backbone_weights(net: nn.Module, weights: str, arch: str) -> None:
    """Load a user's state_dict file into backbone ``net`` (nothing is ever downloaded); keys of a
    classifier the backbone does not have are ignored, a missing backbone key is an error."""
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise ModelError(f"{weights}: cannot load {arch} weights ({exc})") from exc
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise ModelError(f"{weights}: not a state_dict (a mapping of parameter names to tensors)")
    try:
        missing, _ = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelError(f"{weights}: weights do not fit {arch} ({exc})") from exc
    if missing:
        raise ModelError(f"{weights}: not {arch} weights (missing e.g. {missing[:3]})")


class TimmBody(nn.Module):
    """A timm classification network cut before its pooling/head: images -> feature maps."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_features(x)  # type: ignore[operator]  # timm models have it


# our arch name -> timm model name (timm's 1.0 width for the MobileNets)
TIMM_ARCHS = {
    "mobilenetv3_small": "mobilenetv3_small_100",
    "mobilenetv3_large": "mobilenetv3_large_100",
    "efficientnet_lite0": "efficientnet_lite0",
    "regnetx_002": "regnetx_002",
}


def timm_backbone(arch: str, weights: str | None = None) -> tuple[nn.Module, int]:
    """timm's ``TIMM_ARCHS[arch]`` randomly initialised (``pretrained=False``: no download), or with
    a user's weights file; returns (body, channels of its last feature map)."""
    try:
        import timm
    except ImportError as exc:
        raise ModelError(f"{arch}: needs the timm package (pip install 'synthreid[ml]')") from exc
    net = timm.create_model(TIMM_ARCHS[arch], pretrained=False)
    # drop the ImageNet head our Head replaces (unused parameters would still be counted and
    # carried in checkpoints): the classifier, and MobileNetV3's 1x1 conv after pooling
    net.reset_classifier(0)  # type: ignore[operator]  # timm's models have it; nn.Module's stub does not
    if arch.startswith("mobilenetv3"):
        net.conv_head = net.norm_head = nn.Identity()
    if weights:
        load_backbone_weights(net, weights, arch)
    body = TimmBody(net)
    with torch.no_grad():
        net.eval()
        channels = int(body(torch.zeros(1, 3, 64, 32)).shape[1])
        net.train()
    return body, channels


def _inception(num_classes, num_features, dropout, norm, weights=None, neck="fc"):
    if weights:
        raise ModelError("inception: pretrained weights are not supported (trained from scratch)")
    body, ch = inception_backbone()
    return ReidNet(body, ch, num_classes, num_features, dropout, norm, "inception", neck)


def _resnet50(num_classes, num_features, dropout, norm, weights=None, neck="fc"):
    body, ch = resnet50_backbone(weights)
    return ReidNet(body, ch, num_classes, num_features, dropout, norm, "resnet50", neck)


def _tiny(num_classes, num_features, dropout, norm, weights=None, neck="fc"):
    """A 4-conv network (16-32-64-128 channels) for smoke tests and the CPU demo only."""
    if weights:
        raise ModelError("tiny: pretrained weights are not supported")
    body = nn.Sequential(
        _conv(3, 16),
        nn.MaxPool2d(2),
        _conv(16, 32),
        nn.MaxPool2d(2),
        _conv(32, 64),
        nn.MaxPool2d(2),
        _conv(64, 128),
    )
    for m in body.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
    return ReidNet(body, 128, num_classes, num_features, dropout, norm, "tiny", neck)


def _osnet_builder(arch: str, width: float):
    def build_osnet(num_classes, num_features, dropout, norm, weights=None, neck="fc"):
        body, ch = osnet(width)
        if weights:
            load_backbone_weights(body, weights, arch)
        return ReidNet(body, ch, num_classes, num_features, dropout, norm, arch, neck)

    build_osnet.__doc__ = f"OSNet x{width} (synthreid.benchmark.osnet), from scratch or a user's weights."
    return build_osnet


def _timm_builder(arch: str):
    def build_timm(num_classes, num_features, dropout, norm, weights=None, neck="fc"):
        body, ch = timm_backbone(arch, weights)
        return ReidNet(body, ch, num_classes, num_features, dropout, norm, arch, neck)

    build_timm.__doc__ = f"timm {TIMM_ARCHS[arch]}, from scratch or a user's weights."
    return build_timm


REGISTRY = {
    "inception": _inception,
    "resnet50": _resnet50,
    "tiny": _tiny,
    "osnet_x0_25": _osnet_builder("osnet_x0_25", 0.25),
    "osnet_x0_5": _osnet_builder("osnet_x0_5", 0.5),
    "osnet_x1_0": _osnet_builder("osnet_x1_0", 1.0),
    **{a: _timm_builder(a) for a in TIMM_ARCHS},
}


def names() -> list[str]:
    return sorted(REGISTRY)


def build(
    name: str,
    num_classes: int,
    num_features: int = 128,
    dropout: float = 0.5,
    norm: bool = False,
    weights: str | None = None,
    neck: str = "fc",
) -> ReidNet:
    """A re-ID network by architecture name (see :func:`names`); ``weights`` (a state_dict file of
    the backbone) for every arch but inception and tiny; ``neck`` one of :data:`NECKS`."""
    if name not in REGISTRY:
        raise ModelError(f"unknown model {name!r}; valid: {', '.join(names())}")
    if num_classes < 0 or num_features < 0 or not 0 <= dropout < 1:
        raise ModelError(
            f"{name}: need num_classes >= 0, num_features >= 0, 0 <= dropout < 1 "
            f"(got {num_classes}, {num_features}, {dropout})"
        )
    if neck not in NECKS:
        raise ModelError(f"{name}: unknown neck {neck!r}; valid: {', '.join(NECKS)}")
    return REGISTRY[name](num_classes, num_features, dropout, norm, weights, neck)

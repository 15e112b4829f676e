"""OSNet (written from its paper) and the compact backbones of the fast recipe: shapes, parameter
counts and MACs against the paper's Table, the BN-neck head, user weight files."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from synthreid.benchmark import models  # noqa: E402
from synthreid.benchmark.osnet import AggregationGate, LiteConv3x3, OSBlock, osnet  # noqa: E402

pytestmark = pytest.mark.torch

# Zhou et al. 2019, Table (256x128 input, with the 512-d FC embedding): params (M), MACs (M)
PAPER = {1.0: (2.2, 978.9), 0.75: (1.3, 571.8), 0.5: (0.6, 272.9), 0.25: (0.2, 82.3)}


def _macs(net, h, w):
    net.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, 3, h, w))
    return counter.get_total_flops() / 2


@pytest.mark.parametrize("width", sorted(PAPER))
def test_osnet_matches_paper_params_and_macs(width):
    body, channels = osnet(width)
    params = sum(p.numel() for p in body.parameters()) + channels * 512 + 512  # + the paper's FC
    paper_params, paper_macs = PAPER[width]
    assert round(params / 1e6, 1) == paper_params
    assert _macs(body, 256, 128) / 1e6 == pytest.approx(paper_macs, rel=0.002)


def test_osnet_x0_25_exact_counts_and_shapes():
    model = models.build("osnet_x0_25", num_classes=10, num_features=0, dropout=0.0, neck="bn")
    assert sum(p.numel() for p in model.backbone.parameters()) == 134_792
    assert model.head.num_features == 128
    maps = model.backbone(torch.zeros(2, 3, 128, 64))
    assert maps.shape == (2, 128, 8, 4)  # total stride 16
    model.eval()
    f, logits = model(torch.zeros(3, 3, 128, 64))
    assert f.shape == (3, 128) and logits.shape == (3, 10)
    assert _macs(model.backbone, 128, 64) / 1e6 == pytest.approx(82.2 / 4, rel=0.01)


def test_osnet_x0_5_shapes():
    model = models.build("osnet_x0_5", num_classes=7, num_features=64)
    model.eval()
    f, logits = model(torch.zeros(2, 3, 128, 64))
    assert f.shape == (2, 64) and logits.shape == (2, 7)


def test_omni_scale_block_structure():
    block = OSBlock(32, 64)
    # T = 4 streams of 1..4 lite 3x3 layers (receptive fields 3, 5, 7, 9), one shared gate
    assert [len(s) for s in block.streams] == [1, 2, 3, 4]
    assert all(isinstance(layer, LiteConv3x3) for s in block.streams for layer in s)
    assert sum(isinstance(m, AggregationGate) for m in block.modules()) == 1
    lite = block.streams[0][0]
    assert lite[0].kernel_size == (1, 1) and lite[1].groups == lite[1].out_channels  # pointwise, depthwise
    x = torch.randn(2, 32, 16, 8)
    assert block(x).shape == (2, 64, 16, 8)
    # the skip projection only when widths differ
    assert isinstance(OSBlock(64, 64).skip, torch.nn.Identity)


def test_receptive_field_of_the_deepest_stream_is_9():
    stream = OSBlock(8, 8).streams[3].eval()
    for layer in stream:
        layer[3] = torch.nn.Identity()  # linear probe: a ReLU at 0 would hide part of the footprint
    x = torch.zeros(1, 2, 21, 21, requires_grad=True)
    stream[0][0] = torch.nn.Conv2d(2, 2, 1, bias=False)  # 2 input channels for the probe
    stream(x)[0, :, 10, 10].sum().backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).nonzero().flatten()
    assert rows.min() == 6 and rows.max() == 14  # 9 pixels centred on 10


def test_bn_neck_head():
    torch.manual_seed(0)
    model = models.build("osnet_x0_25", num_classes=5, num_features=0, dropout=0.0, neck="bn")
    head = model.head
    assert head.classifier.bias is None and not head.feat_bn.bias.requires_grad
    x = torch.randn(4, 3, 64, 32)
    model.train()
    pre, logits = model(x)
    pooled = torch.nn.functional.adaptive_avg_pool2d(model.backbone(x), 1).flatten(1)
    assert torch.allclose(pre, pooled, atol=1e-5)  # training: the feature before BN (triplet's)
    model.eval()
    f, logits = model(x)
    pooled = torch.nn.functional.adaptive_avg_pool2d(model.backbone(x), 1).flatten(1)
    bn = head.feat_bn
    expected = (pooled - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight
    assert torch.allclose(f, expected, atol=1e-4)  # retrieval: the BN feature
    assert torch.allclose(logits, f @ head.classifier.weight.t(), atol=1e-4)
    head.reset_classifier(9)
    assert head.classifier.out_features == 9 and head.classifier.bias is None


def test_fc_head_unchanged_for_inception():
    model = models.build("inception", num_classes=5)
    assert model.head.neck == "fc" and model.head.classifier.bias is not None
    assert model.head.feat.out_features == 128


def test_unknown_neck_refused():
    with pytest.raises(models.ModelError, match="neck"):
        models.build("osnet_x0_25", 3, neck="gem")


def test_user_weights_file(tmp_path):
    torch.manual_seed(1)
    src = models.build("osnet_x0_25", 3, neck="bn")
    path = tmp_path / "osnet.pt"
    torch.save({"state_dict": src.backbone.state_dict()}, path)
    torch.manual_seed(2)
    dst = models.build("osnet_x0_25", 3, neck="bn", weights=str(path))
    for a, b in zip(src.backbone.state_dict().values(), dst.backbone.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(models.ModelError, match="other.pt"):
        models.build("osnet_x0_25", 3, weights=str(tmp_path / "other.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(models.ModelError, match="junk.pt"):
        models.build("osnet_x0_5", 3, weights=str(tmp_path / "junk.pt"))


@pytest.mark.parametrize("arch", sorted(models.TIMM_ARCHS))
def test_timm_backbones_from_scratch(arch):
    pytest.importorskip("timm")
    model = models.build(arch, num_classes=4, num_features=0, dropout=0.0, neck="bn")
    model.eval()
    f, logits = model(torch.zeros(2, 3, 128, 64))
    assert f.shape == (2, model.head.num_features) and logits.shape == (2, 4)

"""Model registry and output shapes."""

import pytest

torch = pytest.importorskip("torch")

from synthreid.benchmark import models  # noqa: E402
from synthreid.benchmark.models import ModelError, build  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("size", [(144, 56), (256, 128)])
def test_inception_shapes(size):
    torch.manual_seed(0)
    net = build("inception", num_classes=11).eval()
    with torch.no_grad():
        f, logits = net(torch.randn(2, 3, *size))
    assert f.shape == (2, 128) and logits.shape == (2, 11)
    assert (f >= 0).all()  # ReLU after the embedding's BN
    assert net.head.feat.in_features == 1536  # 6b output channels (design §7)


def test_inception_structure_and_init():
    net = build("inception", num_classes=5, num_features=64, dropout=0.0)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    assert net.head.classifier.weight.std().item() == pytest.approx(0.001, rel=0.3)
    assert float(net.head.classifier.bias.detach().abs().sum()) == 0.0
    blocks = [m for m in net.backbone if isinstance(m, models.Block)]
    assert [b.out_channels for b in blocks] == [256, 384, 512, 768, 1024, 1536]


def test_norm_and_no_classifier():
    net = build("inception", num_classes=0, norm=True).eval()
    with torch.no_grad():
        f, logits = net(torch.randn(3, 3, 144, 56))
    assert logits is None
    torch.testing.assert_close(f.norm(dim=1), torch.ones(3))


@pytest.mark.slow
def test_resnet50_shapes_and_weights(tmp_path):
    net = build("resnet50", num_classes=7).eval()
    with torch.no_grad():
        f, logits = net(torch.randn(1, 3, 256, 128))
    assert f.shape == (1, 128) and logits.shape == (1, 7)
    from torchvision.models import resnet50

    ref = resnet50(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r50.pth")
    net2 = build("resnet50", num_classes=3, weights=str(tmp_path / "r50.pth"))
    torch.testing.assert_close(net2.backbone[0].weight, ref.conv1.weight)
    torch.save({"foo": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ModelError, match="bad.pth"):
        build("resnet50", num_classes=3, weights=str(tmp_path / "bad.pth"))


def test_unknown_name_lists_valid_ones():
    with pytest.raises(
        ModelError, match=r"valid: .*inception, mobilenetv3_large.*osnet_x0_25.*resnet50, tiny"
    ):
        build("vgg", num_classes=3)
    with pytest.raises(ModelError, match="dropout"):
        build("inception", num_classes=3, dropout=1.5)


def test_reset_classifier():
    net = build("inception", num_classes=4)
    net.head.reset_classifier(9)
    assert net.head.classifier.out_features == 9

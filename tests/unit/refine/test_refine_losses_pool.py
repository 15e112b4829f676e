import numpy as np
import pytest
import torch

from synthreid.refine.losses import fg_bg_losses, lsgan_loss, masked_identity_loss
from synthreid.refine.pool import ImagePool

pytestmark = pytest.mark.torch


def _mask(h=16, w=8):
    m = torch.zeros(1, 1, h, w)
    m[..., 4:12, 2:6] = 1
    return m


def test_masked_identity_zero_when_person_unchanged():
    a = torch.rand(1, 3, 16, 8) * 2 - 1
    m = _mask()
    out = a.clone()
    out[..., (m[0, 0] == 0)] = 0.7  # background changed freely
    assert masked_identity_loss(out, a, m).item() == pytest.approx(0.0, abs=1e-7)


def test_masked_identity_grows_with_change_inside_mask_only():
    a = torch.rand(1, 3, 16, 8) * 2 - 1
    m = _mask()
    inside = m.bool().expand_as(a)
    values = []
    for delta in (0.1, 0.2, 0.4):
        values.append(masked_identity_loss(torch.where(inside, a + delta, a), a, m).item())
    assert values[0] > 0 and values[0] < values[1] < values[2]
    assert values[1] == pytest.approx(0.2, rel=1e-4)  # mean per masked pixel
    outside = masked_identity_loss(torch.where(inside, a, a + 1.0), a, m).item()
    assert outside == pytest.approx(0.0, abs=1e-7)


def test_fg_bg_terms_split_by_masks():
    x = torch.zeros(1, 3, 16, 8)
    y = torch.ones(1, 3, 16, 8)
    m = _mask()
    fg, bg = fg_bg_losses(y, x, m, y, None)  # G(x) = y: person changed, background equals target
    assert fg.item() == pytest.approx(1.0) and bg.item() == pytest.approx(0.0)
    fg, bg = fg_bg_losses(x, x, m, y, torch.zeros_like(m))  # person kept, background differs by 1
    assert fg.item() == pytest.approx(0.0) and bg.item() == pytest.approx(1.0)
    tm = torch.ones_like(m)  # target person covers everything: no background pixel is compared
    assert fg_bg_losses(x, x, m, y, tm)[1].item() == pytest.approx(0.0)


def test_lsgan():
    s = torch.full((2, 1, 3, 2), 0.5)
    assert lsgan_loss(s, True).item() == pytest.approx(0.25)
    assert lsgan_loss(torch.ones(2, 1, 3, 2), True).item() == 0
    assert lsgan_loss(torch.zeros(2, 1, 3, 2), False).item() == 0


def test_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(5, seed=0)
    first = [torch.full((1, 3, 2, 2), float(i)) for i in range(5)]
    for f in first:
        assert torch.equal(pool.query(f), f)  # passes through while filling
    stored = 0
    n = 4000
    for i in range(n):
        x = torch.full((1, 3, 2, 2), 1000.0 + i)
        out = pool.query(x)
        stored += int(not torch.equal(out, x))
        assert out.shape == x.shape
    assert abs(stored / n - 0.5) < 0.04


def test_pool_returns_previously_stored_images():
    pool = ImagePool(3, seed=1)
    seen = set()
    for i in range(200):
        out = pool.query(torch.full((1, 3, 1, 1), float(i)))
        v = out.flatten()[0].item()
        assert v in seen or v == i
        seen.add(float(i))


def test_pool_state_roundtrip_and_zero_size():
    p1 = ImagePool(4, seed=2)
    for i in range(10):
        p1.query(torch.full((2, 3, 1, 1), float(i)))
    p2 = ImagePool(4, seed=99)
    p2.load_state_dict(p1.state_dict())
    for i in range(20):
        x = torch.full((2, 3, 1, 1), 100.0 + i)
        assert torch.equal(p1.query(x), p2.query(x))
    x = torch.rand(3, 3, 2, 2)
    assert ImagePool(0).query(x) is x
    assert isinstance(p1.rng, np.random.Generator)

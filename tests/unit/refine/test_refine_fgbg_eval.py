"""fg/bg background discriminator, mask feathering, reconstruction losses, evaluation metrics."""

import json
import math

import numpy as np
import pytest
import torch

from synthreid.refine.config import RefinerConfig
from synthreid.refine.errors import RefineError
from synthreid.refine.evaluate import domain_gap, holdout, identity_l1, rgb_to_lab
from synthreid.refine.losses import background_fill, feather_mask, fg_bg_losses, recon_loss, remove_person
from synthreid.refine.model import RefinerModel
from synthreid.refine.train import train

from .refine_helpers import colour_shift, tiny_config, toy_image

pytestmark = pytest.mark.torch


def _rect(h=32, w=16, top=8, bottom=24, left=5, right=11):
    m = torch.zeros(1, 1, h, w)
    m[..., top:bottom, left:right] = 1
    return m


# ---- background discriminator ---------------------------------------------------------------
def test_bg_view_never_sees_the_person(domains):
    model = RefinerModel(tiny_config(*domains, model="fgbg", mask_feather=2))
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 32, 16, generator=g) * 2 - 1
    mask = _rect().expand(2, 1, 32, 16)
    view = model.bg_view(img, mask)
    other = torch.where(mask.bool().expand_as(img), torch.rand(img.shape, generator=g) * 2 - 1, img)
    assert not torch.equal(other, img)
    assert torch.equal(model.bg_view(other, mask), view)  # any person gives the same input
    bg = img.clone()
    bg[..., 1, 1] += 0.5  # a background pixel does matter
    assert not torch.equal(model.bg_view(bg, mask), view)
    assert view.shape == img.shape and torch.isfinite(view).all()


def test_remove_person_fills_a_flat_background_with_itself():
    img = torch.full((1, 3, 32, 16), 0.25)
    img[..., 8:24, 5:11] = -0.9  # the person
    out = remove_person(img, _rect())
    assert torch.allclose(out, torch.full_like(out, 0.25), atol=1e-5)
    fill, cert = background_fill(img, torch.ones(1, 1, 32, 16))  # nothing but person
    assert cert.max().item() == 0 and fill.abs().max().item() == 0


def test_bg_discriminator_is_an_fgbg_option(domains):
    assert tiny_config(*domains, model="fgbg").bg_discriminator is True
    assert tiny_config(*domains).bg_discriminator is False
    assert RefinerModel(tiny_config(*domains, model="fgbg", bg_discriminator=False)).D_bg is None
    with pytest.raises(RefineError, match="bg_discriminator"):
        tiny_config(*domains, model="ptgan", bg_discriminator=True)


# ---- feathering and the continuity band -----------------------------------------------------
@pytest.mark.parametrize("px", [1, 3, 5])
def test_feathered_mask_is_a_monotone_ramp_in_0_1(px):
    m = _rect(left=1, right=4)
    m[..., 8, 1] = 0.4  # a soft (resized) mask value
    f = feather_mask(m, px)
    assert f.min().item() >= 0 and f.max().item() <= 1
    assert (f >= m - 1e-7).all() and (f[m == 1] == 1).all()  # the person stays fully covered
    row = f[0, 0, 16, 4:]  # walking right, away from the person's edge
    assert (row[1:] <= row[:-1] + 1e-7).all()
    assert row[0].item() == pytest.approx((px - 1) / px)
    assert row[px:].abs().max().item() == 0  # exactly px pixels wide
    col = f[0, 0, 24:, 2]  # and downward
    assert (col[1:] <= col[:-1] + 1e-7).all()
    assert torch.equal(feather_mask(m, 0), m)


def test_band_between_the_masks_gets_a_background_target():
    """Pixels under the target's person but outside the source's are not left to the GAN alone."""
    src_mask = _rect(left=1, right=6)
    tgt_mask = _rect(left=9, right=14)
    x = torch.zeros(1, 3, 32, 16)
    y = torch.full((1, 3, 32, 16), 0.5)
    y[..., 8:24, 9:14] = -1.0  # the target's person
    good = torch.full_like(y, 0.5)
    bad = good.clone()
    bad[..., 10:22, 10:13] = -0.5  # the band drifts from the surrounding background
    bg_good = fg_bg_losses(good, x, src_mask, y, tgt_mask, feather=0)[1].item()
    bg_bad = fg_bg_losses(bad, x, src_mask, y, tgt_mask, feather=0)[1].item()
    assert bg_good == pytest.approx(0.0, abs=1e-5)
    assert bg_bad > 0.01


# ---- reconstruction losses ------------------------------------------------------------------
def test_recon_loss_options():
    a, b = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert recon_loss(a, b, "l1").item() == pytest.approx(0.5)
    assert recon_loss(a, b, "l2").item() == pytest.approx(0.25)
    assert recon_loss(a, b, "l1+l2").item() == pytest.approx(0.75)
    assert recon_loss(a, b, "huber", 0.1).item() == pytest.approx(0.45)  # linear above delta
    assert recon_loss(a, b * 0.1, "huber", 0.1).item() == pytest.approx(0.5 * 0.05**2 / 0.1)
    with pytest.raises(RefineError, match="recon_loss"):
        tiny_config("S", "T", recon_loss="l3")


def test_model_uses_the_configured_recon_loss(domains):
    from .test_refine_model import _batch

    out = {}
    for kind in ("l1", "l2"):
        cfg = tiny_config(*domains, recon_loss=kind)
        out[kind] = RefinerModel(cfg).step(_batch(cfg))
    assert out["l1"]["G_AB"] == out["l2"]["G_AB"]  # same networks and batch
    assert out["l2"]["cycle_A"] < out["l1"]["cycle_A"]  # errors < 1: squares are smaller


# ---- evaluation -----------------------------------------------------------------------------
def test_lab_and_statistics():
    px = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [1.0, -1.0, -1.0]]).T.reshape(1, 3, 1, 3)
    lab = rgb_to_lab(px)[0, :, 0].T
    assert lab[0].tolist() == pytest.approx([100.0, 0.0, 0.0], abs=0.05)  # white
    assert lab[1].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=0.05)  # black
    assert lab[2].tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.1)  # sRGB red
    rng = np.random.default_rng(0)
    imgs = np.stack([toy_image(rng, 32, 16)[0] for _ in range(4)])
    a = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1
    b = torch.from_numpy(colour_shift(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert domain_gap(a, a) == pytest.approx(0.0, abs=1e-4)
    assert domain_gap(a, b) > 20  # reddish vs bluish
    m = _rect().expand(4, 1, 32, 16)
    assert identity_l1(a, a, m) == 0
    assert identity_l1(-torch.ones_like(a), torch.ones_like(a), m) == pytest.approx(1.0)


def test_holdout_is_disjoint_and_bounded():
    train_part, held = holdout(list(range(10)), 16)
    assert len(held) == 2 and not set(held) & set(train_part) and sorted(held + train_part) == list(range(10))
    assert holdout(list(range(10)), 0) == (list(range(10)), [])
    assert holdout(list(range(3)), 5) == (list(range(3)), [])


def test_metrics_json_fields(tmp_path, domains):
    cfg = tiny_config(*domains, model="fgbg", iters=4, checkpoint_every=2, log_every=1)
    run = train(cfg, tmp_path / "run", device="cpu", progress=False, stop_after=2)
    first = json.loads((run / "metrics.json").read_text())
    assert first["iteration"] == 2
    train(cfg, run, device="cpu", progress=False)
    m = json.loads((run / "metrics.json").read_text())
    assert m["iteration"] == 4 and m["iters_total"] == 4
    assert m["wall_seconds"] > first["wall_seconds"] > 0  # accumulates over the resumption
    assert m["iters_per_second"] == pytest.approx(4 / m["wall_seconds"])
    for key in ("losses", "losses_avg"):
        assert {"G", "D_A", "D_B", "fg_A", "bg_A", "G_bg", "D_bg"} <= set(m[key])
        assert all(math.isfinite(v) for v in m[key].values())
    assert m["losses_avg_rows"] == 4
    ev = m["eval"]
    assert set(ev) == {"identity_l1", "domain_gap", "domain_gap_source", "domain_gap_reduction"}
    assert all(math.isfinite(v) for v in ev.values())
    assert 0 <= ev["identity_l1"] <= 1 and ev["domain_gap"] >= 0 and ev["domain_gap_source"] > 0
    assert m["eval_images"] == {"source": 2, "target": 6}
    none = train(
        tiny_config(*domains, iters=1, eval_images=0), tmp_path / "none", device="cpu", progress=False
    )
    assert json.loads((none / "metrics.json").read_text())["eval"] is None
    assert not (none / "eval.csv").exists()


def test_old_run_configs_resume_with_new_defaults(tmp_path, domains):
    cfg = tiny_config(*domains, iters=2)
    run = train(cfg, tmp_path / "run", device="cpu", progress=False, stop_after=1)
    old = json.loads((run / "config.json").read_text())
    for k in ("recon_loss", "huber_delta", "mask_feather", "bg_discriminator", "lambda_bg_gan"):
        old.pop(k)  # as written before these options existed
    (run / "config.json").write_text(json.dumps(old))
    train(cfg, run, device="cpu", progress=False)
    assert json.loads((run / "metrics.json").read_text())["iteration"] == 2
    assert RefinerConfig.from_dict(old) == cfg

import math

import pytest
import torch

from synthreid.refine.data import UnpairedSamples, source_pairs, target_pairs
from synthreid.refine.model import NETS, RefinerModel

from .refine_helpers import tiny_config

pytestmark = pytest.mark.torch


def _batch(cfg, k=0):
    s = UnpairedSamples(
        source_pairs(cfg.source), target_pairs(cfg.target, cfg.target_masks), cfg.size, 8, cfg.seed
    )
    items = [s[k], s[k + 1]]
    return {key: torch.stack([i[key] for i in items]) for key in items[0]}


@pytest.mark.parametrize("model", ["cyclegan", "ptgan", "fgbg"])
def test_one_step_updates_all_four_networks(domains, model):
    cfg = tiny_config(*domains, model=model)
    m = RefinerModel(cfg)
    assert set(NETS) <= set(m.nets) and (("D_bg" in m.nets) == (model == "fgbg"))
    before = {n: [p.detach().clone() for p in getattr(m, n).parameters()] for n in m.nets}
    losses = m.step(_batch(cfg))
    for n in m.nets:
        after = list(getattr(m, n).parameters())
        assert any(not torch.equal(b, a) for b, a in zip(before[n], after, strict=True)), n
    assert all(math.isfinite(v) for v in losses.values())
    expected = {
        "cyclegan": {"idt_A"},
        "ptgan": {"mask_id_A", "mask_id_B"},
        "fgbg": {"fg_A", "bg_A", "fg_B", "bg_B", "G_bg", "D_bg"},
    }
    assert expected[model] <= set(losses)
    assert {"G", "D_A", "D_B", "cycle_A", "cycle_B", "G_AB", "G_BA"} <= set(losses)
    assert m.iteration == 1


def test_loss_weights_are_options(domains):
    src, tgt, tmask = domains
    b = None
    vals = {}
    for w in (1.0, 3.0):
        cfg = tiny_config(src, tgt, tmask, model="ptgan", lambda_mask_id=w, lambda_identity=0.0)
        b = b or _batch(cfg)
        vals[w] = RefinerModel(cfg).step(b)
    assert "idt_A" not in vals[1.0]
    assert vals[3.0]["mask_id_A"] == pytest.approx(3 * vals[1.0]["mask_id_A"], rel=1e-5)


def test_same_seed_same_losses(domains):
    cfg = tiny_config(*domains)
    b = _batch(cfg)
    assert RefinerModel(cfg).step(b) == RefinerModel(cfg).step(b)

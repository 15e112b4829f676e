import numpy as np
import pytest
import torch
from PIL import Image

from synthreid.cliutil import Size
from synthreid.errors import DatasetError
from synthreid.refine.config import RefinerConfig, parse_size
from synthreid.refine.data import UnpairedSamples, augment, load_rgb, source_pairs, target_pairs
from synthreid.refine.errors import RefineError

from .refine_helpers import make_target, tiny_config

pytestmark = pytest.mark.torch


def test_parse_size():
    # Text is WIDTHxHEIGHT (the CLI convention); the result is (height, width), tensor order.
    assert parse_size("64x128") == (128, 64)
    assert parse_size("128X256") == (256, 128)
    assert parse_size([128, 64]) == (128, 64)  # run folders written before sizes were strings
    assert parse_size(Size(width=64, height=128)) == (128, 64)
    for bad in ("128", "128x", "130x64", "128x62", "0x64", "axb", "-4x8"):
        with pytest.raises(RefineError, match="size"):
            parse_size(bad)


def test_config_validation_and_roundtrip(domains):
    src, tgt, tmask = domains
    c = tiny_config(src, tgt, tmask, model="ptgan")
    assert RefinerConfig.from_dict(c.to_dict()) == c
    with pytest.raises(RefineError, match="cyclegan, ptgan, fgbg"):
        tiny_config(src, tgt, model="stargan")
    with pytest.raises(RefineError, match="target_masks"):
        tiny_config(src, tgt, None, model="ptgan")
    with pytest.raises(RefineError, match="iters"):
        tiny_config(src, tgt, iters=0)
    assert c.to_dict()["size"] == "16x32"  # WIDTHxHEIGHT, as on the command line
    # config.json of runs made before the guard: "size": [height, width], no allow_landscape
    legacy = {k: v for k, v in c.to_dict().items() if k != "allow_landscape"}
    assert RefinerConfig.from_dict({**legacy, "size": [32, 16]}) == c
    assert RefinerConfig.from_dict({**legacy, "size": [16, 32]}).size == (16, 32)  # old landscape runs load
    with pytest.raises(RefineError, match="landscape"):
        tiny_config(src, tgt, size="32x16")
    assert tiny_config(src, tgt, size="32x16", allow_landscape=True).size == (16, 32)
    assert tiny_config(src, tgt, allow_landscape=True) == tiny_config(src, tgt)  # same run when portrait
    with pytest.raises(RefineError, match="unknown field"):
        RefinerConfig.from_dict({**c.to_dict(), "lambda_typo": 1})


def test_lr_schedule_constant_then_linear_to_zero(domains):
    c = tiny_config(*domains, iters=100)
    assert c.lr_factor(0) == 1 and c.lr_factor(50) == 1
    assert c.lr_factor(75) == pytest.approx(1 - 25 / 51)
    assert 0 < c.lr_factor(99) < 0.05


def test_augment_applies_same_geometry_to_image_and_mask():
    # The mask is a thresholded copy of the image's red channel: it must stay so after augmenting.
    rng = np.random.default_rng(0)
    red = (rng.random((40, 20)) > 0.5).astype(np.uint8) * 255
    red = np.kron(red[::4, ::4], np.ones((4, 4), np.uint8))  # blocks survive resampling
    img = Image.fromarray(np.stack([red, np.zeros_like(red), np.zeros_like(red)], -1))
    mask = Image.fromarray(red)
    flips = 0
    for k in range(12):
        r = np.random.default_rng([5, k])
        t, m = augment(img, mask, (32, 16), 1.25, True, r)
        assert t.shape == (3, 32, 16) and m.shape == (1, 32, 16)
        assert -1 <= t.min() and t.max() <= 1 and 0 <= m.min() and m.max() <= 1
        agree = ((t[0] > 0) == (m[0] > 0.5)).float().mean()
        assert agree > 0.97
        flips += int(
            not torch.equal(t, augment(img, mask, (32, 16), 1.25, False, np.random.default_rng([5, k]))[0])
        )
    assert 0 < flips < 12


def test_unpaired_samples_are_a_function_of_seed_and_index(domains):
    src, tgt, tmask = domains
    s = UnpairedSamples(source_pairs(src), target_pairs(tgt, tmask), (32, 16), 10, seed=3)
    a, b = s[4], s[4]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(s[4]["a"], s[5]["a"]) or not torch.equal(s[4]["b"], s[5]["b"])
    assert a["mask_a"].sum() > 0 and a["mask_b"].sum() > 0
    no_masks = UnpairedSamples(source_pairs(src), target_pairs(tgt), (32, 16), 10, seed=3)
    assert no_masks[0]["mask_b"].sum() == 0


def test_data_errors_name_the_file(tmp_path, domains):
    src, tgt, tmask = domains
    (src / "masks" / "00000_c1_0000.png").unlink()
    with pytest.raises(DatasetError, match="00000_c1_0000.png"):
        source_pairs(src)
    with pytest.raises(DatasetError, match="does not exist"):
        target_pairs(tmp_path / "nope")
    (tmask / "cam_002.png").unlink()
    with pytest.raises(DatasetError, match="cam_002"):
        target_pairs(tgt, tmask)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no target images"):
        target_pairs(empty)
    bad, _ = make_target(tmp_path / "bad", n=1)
    (bad / "cam_000.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cam_000.png"):
        load_rgb(bad / "cam_000.png")

"""The CPU-fast training recipe: presets, learning-rate schedule, in-memory images, batch
augmentation, P x K sampling, triplet loss, and that the recipe learns on a tiny fixture."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from synthreid.benchmark import augment, data, losses, recipes  # noqa: E402
from synthreid.benchmark.datasets import read_dataset  # noqa: E402
from synthreid.benchmark.engine import TrainConfig, run_training  # noqa: E402
from synthreid.errors import SynthreidError  # noqa: E402

from .bench_fixtures import make_synth_dataset  # noqa: E402

pytestmark = pytest.mark.torch


# ---------------------------------------------------------------- presets and schedule


def test_thesis_recipe_is_the_unchanged_default():
    cfg = TrainConfig(train=["a"], val="b")
    assert cfg.recipe == "thesis" and recipes.RECIPES["thesis"] == {}
    assert (cfg.arch, cfg.lr, cfg.optimizer, cfg.schedule, cfg.neck, cfg.batch_size) == (
        "inception",
        0.1,
        "sgd",
        "step",
        "fc",
        256,
    )
    assert (cfg.warmup_epochs, cfg.random_erasing, cfg.color_jitter, cfg.in_memory, cfg.triplet_weight) == (
        0,
        0.0,
        0.0,
        False,
        0.0,
    )
    assert cfg.size == (144, 56)


def test_fast_recipe_sets_defaults_and_explicit_fields_win():
    cfg = TrainConfig(
        **recipes.apply("fast", {"train": ["a"], "val": "b", "epochs": 7, "arch": "osnet_x0_5"})
    )
    assert cfg.recipe == "fast" and cfg.epochs == 7 and cfg.arch == "osnet_x0_5"
    assert cfg.size == (128, 64) and cfg.neck == "bn" and cfg.schedule == "cosine" and cfg.in_memory
    cfg.validate()
    with pytest.raises(SynthreidError, match="recipe 'quick'"):
        recipes.apply("quick", {})
    bad = TrainConfig(train=["a"], val="b", recipe="quick")
    with pytest.raises(SynthreidError, match="recipe"):
        bad.validate()
    with pytest.raises(SynthreidError, match="batch_size"):
        TrainConfig(train=["a"], val="b", instances_per_id=3, batch_size=64).validate()


def test_lr_schedule_values():
    f = recipes.lr_factor
    # warm-up: linear from 0.01 at epoch 0 to 1 at epoch `warmup`
    assert f(0, 30, "cosine", 3) == pytest.approx(0.01)
    assert f(1, 30, "cosine", 3) == pytest.approx(0.01 + 0.99 / 3)
    assert f(2, 30, "cosine", 3) == pytest.approx(0.01 + 2 * 0.99 / 3)
    # cosine: 1 right after warm-up, 1/2 half-way through the rest, small at the last epoch
    assert f(3, 30, "cosine", 3) == pytest.approx(1.0)
    assert f(3 + 14, 31, "cosine", 3) == pytest.approx(0.5)  # t = 14 / 28
    assert f(29, 30, "cosine", 3) == pytest.approx(0.5 * (1 + math.cos(math.pi * 26 / 27)))
    assert all(f(e, 30, "cosine", 3) > f(e + 1, 30, "cosine", 3) for e in range(3, 29))
    # Open-ReID step schedule, with and without warm-up
    assert [f(e, 100, "step", 0, 40, 0.1) for e in (0, 39, 40, 80)] == pytest.approx([1, 1, 0.1, 0.01])
    assert f(0, 100, "step", 2, 40) == pytest.approx(0.01)
    with pytest.raises(SynthreidError, match="schedule"):
        f(5, 10, "linear")


# ---------------------------------------------------------------- in-memory images


@pytest.mark.parametrize("size", [(64, 32), (48, 24)])
def test_memory_images_equal_the_file_loader_pixels(tmp_path, size):
    root = make_synth_dataset(tmp_path / "ds", n_ids=3, per_id=3, size=(64, 32))
    recs = read_dataset(root).train
    labels = list(range(len(recs)))
    files = data.ReidImages(recs, labels, size, train=False)
    mem = data.MemoryImages(recs, labels, size)
    assert mem.images.shape == (len(recs), 3, *size) and mem.images.dtype == torch.uint8
    for i in range(len(recs)):
        a, la, ca = files[i]
        b, lb, cb = mem[(i, 123)]
        assert torch.equal(a, b) and la == int(lb) and ca == int(cb)
    # batches from the loader too, in sampler order
    xb, yb, _ = next(iter(data.make_loader(mem, 4, 0, sampler=data.SeededSampler(len(mem), 0))))
    order = [i for i, _ in data.SeededSampler(len(mem), 0)][:4]
    assert torch.equal(xb, torch.stack([files[i][0] for i in order])) and yb.tolist() == order


# ---------------------------------------------------------------- batch augmentation


def _batch(n=64, h=32, w=16, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_full_area_crop_is_the_image_or_its_mirror():
    x = _batch()
    out = augment.crop_flip(
        x, augment.Augment(crop=True, crop_area=(1, 1), crop_aspect=(1, 1)), torch.Generator().manual_seed(3)
    )
    same = (out - x).abs().amax((1, 2, 3)) < 1e-5
    mirrored = (out - x.flip(-1)).abs().amax((1, 2, 3)) < 1e-5
    assert bool((same | mirrored).all())
    assert 10 < int(mirrored.sum()) < 54  # about half flipped (binomial 64, 1/2: 6 sigma)


def test_crops_zoom_in_and_are_seeded():
    x = _batch()
    aug = augment.Augment(crop=True, crop_area=(0.3, 0.3))
    a = augment.crop_flip(x, aug, torch.Generator().manual_seed(1))
    b = augment.crop_flip(x, aug, torch.Generator().manual_seed(1))
    c = augment.crop_flip(x, aug, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    # enlarging a 30 % crop smooths: neighbouring pixels differ less than in the noise image
    assert a.diff(dim=-1).abs().mean() < 0.7 * x.diff(dim=-1).abs().mean()


def test_random_erasing_areas_and_probability():
    x = _batch(n=200) + 1.0  # no zeros before erasing
    g = torch.Generator().manual_seed(0)
    out = augment.random_erasing(x, augment.Augment(erasing=1.0), g)
    frac = (out == 0).all(1).float().mean((1, 2))
    assert bool((frac > 0).all()) and float(frac.max()) <= 0.4 + 0.05
    zero_rows = (out == 0).all(1)
    # one rectangle per image: the erased pixels are the product of their rows and columns
    rows, cols = zero_rows.any(2), zero_rows.any(1)
    assert torch.equal(zero_rows, rows[:, :, None] & cols[:, None, :])
    half = augment.random_erasing(x, augment.Augment(erasing=0.5), torch.Generator().manual_seed(0))
    erased = (half == 0).flatten(1).any(1).float().mean()
    assert 0.35 < float(erased) < 0.65
    assert torch.equal(augment.normalised(x, augment.Augment(), g), x)


def test_color_jitter_changes_images_within_range():
    x = _batch()
    out = augment.color_jitter(x, 0.3, torch.Generator().manual_seed(0))
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    ratio = out.mean((1, 2, 3)) / x.mean((1, 2, 3))
    assert float(ratio.std()) > 0.02  # per-image factors
    with pytest.raises(SynthreidError, match="color_jitter"):
        augment.Augment(color_jitter=1.5)


def test_batch_generator_depends_on_seed_epoch_and_step():
    draw = [
        torch.rand(3, generator=augment.batch_generator(*k))
        for k in ((0, 0, 0), (0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0))
    ]
    assert torch.equal(draw[0], draw[1])
    assert all(not torch.equal(draw[0], d) for d in draw[2:])


# ---------------------------------------------------------------- P x K sampling and triplet loss


def test_identity_sampler_batches_hold_k_images_of_each_identity():
    labels = np.repeat(np.arange(10), [8, 8, 8, 8, 8, 6, 4, 3, 8, 8])
    s = data.IdentitySampler(labels, 4, seed=0)
    s.set_epoch(2)
    pairs = list(s)
    assert len(pairs) == len(s) == (len(labels) // 4) * 4
    idx = [i for i, _ in pairs]
    for j in range(0, len(idx) - 3, 4):
        assert len({int(labels[i]) for i in idx[j : j + 4]}) == 1
    assert set(labels[idx]) == set(range(10))
    assert pairs == list(s) and pairs != list(data.IdentitySampler(labels, 4, seed=1))


def test_triplet_loss_values():
    crit = losses.TripletLoss(margin=0.5)
    y = torch.tensor([0, 0, 1, 1])
    far = torch.tensor([[0.0, 0], [0.1, 0], [5.0, 0], [5.1, 0]])
    assert float(crit(far, y)) == pytest.approx(0.0)
    mixed = torch.tensor([[0.0, 0], [2.0, 0], [1.0, 0], [3.0, 0]])
    # anchors: 0: pos 2, neg 1 -> 1.5; 1: pos 2, neg 1 -> 1.5; 2: pos 2, neg 1 -> 1.5; 3: pos 2, neg 1 -> 1.5
    assert float(crit(mixed, y)) == pytest.approx(1.5)
    assert float(crit(far, torch.tensor([0, 1, 2, 3]))) == 0.0  # no positives: nothing to learn
    feats = mixed.clone().requires_grad_(True)
    crit(feats, y).backward()
    assert torch.isfinite(feats.grad).all()


# ---------------------------------------------------------------- it learns


def _fixture(tmp_path):
    ids = list(range(36))
    return make_synth_dataset(
        tmp_path / "ds",
        n_ids=36,
        per_id=6,
        size=(64, 32),
        seed=5,
        splits={"train": ids[:24], "val": ids[24:], "test": ids[24:]},
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_recipe_learns_far_above_chance(tmp_path, seed):
    # Checked once over seeds 0-8 (all passed: held-out rank-1 0.42-0.75, train accuracy 0.34-0.59,
    # loss 3.18 -> 1.98-2.28; 8-10 CPU-seconds each).
    root = _fixture(tmp_path)
    cfg = TrainConfig(
        **recipes.apply(
            "fast",
            {
                "train": [str(root)],
                "val": str(root),
                "test": [str(root)],
                "height": 64,
                "width": 32,
                "epochs": 12,
                "warmup_epochs": 2,
                "batch_size": 32,
                "val_ids": 12,
                "draws": 5,
                "seed": seed,
                "threads": 1,
            },
        )
    )
    res = run_training(cfg, tmp_path / "run", progress=False)[str(root)]
    history = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=False)["history"]
    chance = 1 / 12
    assert res["rank1"] > chance + 0.25  # held-out identities, 12-way
    assert history[-1]["acc"] > 5 / 24 and history[-1]["loss"] < history[0]["loss"] - 0.5  # 24 classes
    lrs = [row["lr"] for row in history]
    expected = [cfg.lr * recipes.lr_factor(e, 12, "cosine", 2) for e in range(12)]
    assert lrs == pytest.approx(expected)


def test_cli_recipe_fills_only_options_not_given():
    from synthreid.benchmark.cli import train_config
    from synthreid.cli import build_parser

    parse = build_parser().parse_args
    fast = train_config(
        parse("benchmark train --train a --val b --recipe fast --epochs 50 --lr 0.01".split())
    )
    # --epochs 50 equals the thesis default but was given: it wins over the recipe's 30
    assert (fast.recipe, fast.arch, fast.epochs, fast.lr, fast.size) == (
        "fast",
        "osnet_x0_25",
        50,
        0.01,
        (128, 64),
    )
    assert fast.in_memory and fast.cpu_channels_last and fast.workers == 0 and fast.threads == 1
    off = train_config(
        parse("benchmark train --train a --val b --recipe fast --no-in-memory --features 64".split())
    )
    assert not off.in_memory and off.num_features == 64 and off.neck == "bn"
    thesis = train_config(parse("benchmark train --train a --val b".split()))
    assert thesis == TrainConfig(train=["a"], val="b", workers=thesis.workers)

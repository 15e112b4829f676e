import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from synthreid.refine.data import to_tensor
from synthreid.refine.errors import RefineError
from synthreid.refine.model import RefinerModel
from synthreid.refine.train import load_checkpoint, train
from synthreid.runfolder import Progress, RunFolder

from .refine_helpers import colour_shift, make_source, make_target, tiny_config, toy_image

pytestmark = pytest.mark.torch
CHECKPOINT = "checkpoints/last.pt"  # synthreid.runfolder's layout


@pytest.fixture
def single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(n)


def _rows(run):
    with open(run / "losses.csv") as fh:
        return list(csv.DictReader(fh))


def test_resume_reproduces_uninterrupted_run(tmp_path, domains, single_thread):
    cfg = tiny_config(*domains, model="ptgan", iters=5, checkpoint_every=100, log_every=1)
    straight = train(cfg, tmp_path / "straight", device="cpu", progress=False)
    interrupted = train(cfg, tmp_path / "resumed", device="cpu", progress=False, stop_after=4)
    assert load_checkpoint(interrupted / CHECKPOINT)["iteration"] == 4
    assert RunFolder(interrupted).progress() == Progress(4, 5, "iter")
    assert len(_rows(interrupted)) == 4
    # a run folder of an older version (checkpoints/latest.pt) resumes the same way
    (interrupted / CHECKPOINT).rename(interrupted / "checkpoints" / "latest.pt")
    train(cfg, interrupted, device="cpu", progress=False)  # new objects, state from the checkpoint only
    assert not (interrupted / "checkpoints" / "latest.pt").exists()  # moved on to last.pt
    a, b = _rows(straight), _rows(interrupted)
    assert len(a) == len(b) == 5
    keys = [k for k in a[0] if k != "sec_per_iter"]
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    ea, eb = (list(csv.DictReader(open(r / "eval.csv"))) for r in (straight, interrupted))
    assert [r["iter"] for r in ea] == ["0", "5"] and [r["iter"] for r in eb] == ["0", "4", "5"]
    assert ea == [eb[0], eb[2]]  # the evaluation is as deterministic as the training
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (straight, interrupted))
    assert ma["eval"] == mb["eval"] and ma["losses"] == mb["losses"] and mb["iteration"] == 5
    sa, sb = load_checkpoint(straight / CHECKPOINT), load_checkpoint(interrupted / CHECKPOINT)
    for name in ("G_AB", "D_B"):
        for k in sa[name]:
            assert torch.equal(sa[name][k], sb[name][k])


def test_run_folder_outputs(tmp_path, domains):
    cfg = tiny_config(*domains, model="fgbg", iters=6, checkpoint_every=3, sample_every=3)
    run = train(cfg, tmp_path / "run", device="cpu", progress=False)
    assert json.loads((run / "config.json").read_text())["model"] == "fgbg"
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["iter_0000003.png", "iter_0000006.png"]
    with Image.open(run / "samples" / "iter_0000006.png") as im:
        assert im.size[1] > 6 * 32 and im.size[0] > 4 * 16
    with Image.open(run / "losses.png") as im:
        assert im.format == "PNG"
    rows = _rows(run)
    assert [int(r["iter"]) for r in rows] == list(range(1, 7))
    assert float(rows[-1]["lr"]) < float(rows[0]["lr"])  # decays in the second half
    assert not list(run.rglob(".*.tmp"))
    assert [int(r["iter"]) for r in csv.DictReader(open(run / "eval.csv"))] == [0, 3, 6]
    with Image.open(run / "eval.png") as im:
        assert im.format == "PNG"
    state = load_checkpoint(run / CHECKPOINT)
    assert {
        "G_AB",
        "G_BA",
        "D_A",
        "D_B",
        "opt_G",
        "opt_D",
        "sched_G",
        "sched_D",
        "pool_A",
        "pool_B",
        "iteration",
        "config",
        "D_bg",
        "pool_bg",
    } <= set(state)
    assert state["iteration"] == 6 and state["pool_B"]["images"].shape[0] == cfg.pool_size
    # Re-running a finished run is a no-op; a different config in the same folder is refused.
    train(cfg, run, device="cpu", progress=False)
    with pytest.raises(RefineError, match="lambda_fg"):
        train(tiny_config(*domains, model="fgbg", iters=6, lambda_fg=1.0), run, device="cpu", progress=False)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, domains):
    cfg = tiny_config(*domains, iters=2)
    run = train(cfg, tmp_path / "run", device="cpu", progress=False, stop_after=1)
    (run / CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(RefineError, match="checkpoints/last.pt"):
        train(cfg, run, device="cpu", progress=False)


def _translation_error(model, images):
    x = torch.stack([to_tensor(Image.fromarray(i)) for i in images])
    want = torch.stack([to_tensor(Image.fromarray(colour_shift(i))) for i in images])
    return (model.translate(x, "AB") - want).abs().mean().item()


# Margins come from a sweep of training seeds 0-9 (2026-12-02, 2 busy cores): trained/init error
# 0.36-0.51, trained/identity-map error 0.26-0.28, domain gap trained/iteration 0 0.28-0.56, trained
# gap/untranslated gap 0.11-0.28. Each bound below sits well outside that range yet far from "nothing
# learned" (ratio 1.0); one seed's luck must not decide the test.
SEED_SWEEP_BOUNDS = {"vs_init": 0.7, "vs_identity": 0.4, "gap_vs_start": 0.75, "gap_vs_source": 0.45}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 7])
def test_toy_colour_shift_is_learned(tmp_path, seed):
    src = make_source(tmp_path / "toyA", n_ids=8, per_id=2, size=(32, 16), vary=False)
    tgt, _ = make_target(tmp_path / "toyB", n=16, size=(32, 16))
    cfg = tiny_config(
        src,
        tgt,
        None,
        ngf=4,
        ndf=4,
        iters=40,
        batch_size=4,
        lr=4e-3,
        load_scale=1.0,
        flip=False,
        checkpoint_every=1000,
        sample_every=1000,
        log_every=10,
        seed=seed,
    )
    rng = np.random.default_rng(123)
    held_out = [toy_image(rng, 32, 16)[0] for _ in range(8)]
    torch.manual_seed(seed)
    before = _translation_error(RefinerModel(cfg), held_out)
    run = train(cfg, tmp_path / "run", device="cpu", progress=False)
    model = RefinerModel(cfg)
    model.load_state_dict(load_checkpoint(run / CHECKPOINT))
    after = _translation_error(model, held_out)
    no_change = np.mean(
        [
            np.abs(to_tensor(Image.fromarray(i)) - to_tensor(Image.fromarray(colour_shift(i)))).mean()
            for i in held_out
        ]
    )
    print(f"translation error: init {before:.3f}, trained {after:.3f}, identity map {no_change:.3f}")
    bounds = SEED_SWEEP_BOUNDS
    assert after < bounds["vs_init"] * before
    assert after < bounds["vs_identity"] * no_change  # far better than leaving the image unchanged
    # The run's own held-out evaluation sees the same: the colour gap to the target closes.
    metrics = json.loads((run / "metrics.json").read_text())
    first = next(csv.DictReader(open(run / "eval.csv")))
    print("eval", metrics["eval"], "at iteration 0:", first)
    assert metrics["eval_images"] == {"source": 4, "target": 16}
    assert metrics["eval"]["domain_gap"] < bounds["gap_vs_start"] * float(first["domain_gap"])
    assert metrics["eval"]["domain_gap"] < bounds["gap_vs_source"] * metrics["eval"]["domain_gap_source"]

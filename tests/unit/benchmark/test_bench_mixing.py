"""Losses (ce, ls, sce), seeded per-dataset sub-sampling and the weighted mixing sampler."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from synthreid.benchmark import data, losses, mixing, runs  # noqa: E402
from synthreid.benchmark.datasets import ReidRecord  # noqa: E402
from synthreid.benchmark.engine import Trainer  # noqa: E402
from synthreid.cli import main  # noqa: E402
from synthreid.errors import SynthreidError  # noqa: E402

from .bench_fixtures import make_synth_dataset, small_cfg  # noqa: E402

pytestmark = pytest.mark.torch


# ---------------------------------------------------------------- losses


def test_sce_matches_definition():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, 5, generator=g), torch.tensor([0, 1, 2, 3, 4, 0])
    got = losses.make_criterion("sce", sce_alpha=0.3, sce_beta=2.0)(logits, y)
    p = logits.softmax(1)
    q = torch.nn.functional.one_hot(y, 5).float().clamp(min=1e-4)
    rce = -(p * q.log()).sum(1).mean()
    ce = torch.nn.functional.cross_entropy(logits, y)
    torch.testing.assert_close(got, 0.3 * ce + 2.0 * rce)


def test_reverse_term_is_bounded_for_confidently_wrong_labels():
    logits = torch.tensor([[50.0, 0.0, 0.0]])
    wrong = torch.tensor([1])
    rce_only = losses.make_criterion("sce", sce_alpha=0.0, sce_beta=1.0)(logits, wrong)
    assert float(rce_only) == pytest.approx(-math.log(1e-4), rel=1e-4)
    assert float(losses.make_criterion("ce")(logits, wrong)) > 49  # CE grows without bound


def test_ce_and_label_smoothing_criteria():
    logits, y = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
    ce = losses.make_criterion("ce")(logits, y)
    ls = losses.make_criterion("ls", label_smoothing=0.3)(logits, y)
    logp = logits.log_softmax(1)[0]
    torch.testing.assert_close(ce, -logp[0])
    torch.testing.assert_close(ls, -(0.7 * logp[0] + 0.1 * logp.sum()))
    with pytest.raises(SynthreidError, match="loss 'x'"):
        losses.make_criterion("x")


def test_loss_options_unified(tmp_path):
    ds = tmp_path / "d"
    assert small_cfg(ds, label_smoothing=0.2).loss == "ls"  # the older spelling
    cfg = small_cfg(ds, loss="ls")
    assert cfg.label_smoothing == 0.1
    with pytest.raises(SynthreidError, match="loss"):
        small_cfg(ds, loss="focal").validate()
    with pytest.raises(SynthreidError, match="sce_beta"):
        small_cfg(ds, loss="sce", sce_beta=-1).validate()


def test_training_uses_the_chosen_loss(tmp_path):
    ds = make_synth_dataset(tmp_path / "d", n_ids=8, per_id=4, seed=1)
    ce = Trainer(small_cfg(ds), tmp_path / "ce", progress=False).train()
    rce = Trainer(
        small_cfg(ds, loss="sce", sce_alpha=0.0, sce_beta=1.0), tmp_path / "sce", progress=False
    ).train()
    # at the start CE ~ log 8 = 2.1 while RCE ~ 9.2 * (1 - 1/8) = 8.1
    assert ce["loss"] < 4.0 < rce["loss"] <= -math.log(1e-4)
    assert json.loads((tmp_path / "sce" / "config.json").read_text())["loss"] == "sce"


def test_old_run_config_without_new_fields_resumes(tmp_path):
    ds = make_synth_dataset(tmp_path / "d", n_ids=6, per_id=2, seed=2)
    Trainer(small_cfg(ds), tmp_path / "r", progress=False).train()
    path = tmp_path / "r" / "config.json"
    old = json.loads(path.read_text())
    for k in ("loss", "sce_alpha", "sce_beta", "train_ids", "train_images_per_id", "mix_ratio"):
        del old[k]
    path.write_text(json.dumps(old))
    assert Trainer(small_cfg(ds, epochs=2), tmp_path / "r", progress=False).start_epoch == 1
    with pytest.raises(runs.RunError, match="loss"):
        Trainer(small_cfg(ds, epochs=2, loss="sce"), tmp_path / "r", progress=False)


# ---------------------------------------------------------------- sub-sampling


def records(n_ids=10, per_id=6):
    return [ReidRecord(f"/x/{p}_{i}.png", p, i % 2) for p in range(n_ids) for i in range(per_id)]


def test_subsample_ids_then_images_seeded():
    recs = records()
    a = mixing.subsample(recs, 4, 3, seed=0, index=0)
    assert len({r.pid for r in a}) == 4 and len(a) == 12
    assert all(sum(r.pid == p for r in a) == 3 for p in {r.pid for r in a})
    assert a == mixing.subsample(recs, 4, 3, seed=0, index=0)
    assert a != mixing.subsample(recs, 4, 3, seed=1, index=0)
    assert a != mixing.subsample(recs, 4, 3, seed=0, index=1)
    assert mixing.subsample(recs, None, None, 0, 0) == recs
    assert mixing.subsample(recs, 50, 99, 0, 0) == recs  # more than there is: all
    with pytest.raises(SynthreidError, match=">= 1"):
        mixing.subsample(recs, 0, None, 0, 0)


def test_per_dataset_values():
    assert mixing.per_dataset(None, 3, "x") == [None] * 3
    assert mixing.per_dataset([5], 3, "x") == [5, 5, 5]
    assert mixing.per_dataset([5, None], 2, "x") == [5, None]
    with pytest.raises(SynthreidError, match="train_ids has 2 values for 3"):
        mixing.per_dataset([1, 2], 3, "train_ids")


def test_mix_sampler_hits_the_ratio_whatever_the_sizes():
    sources = [0] * 95 + [1] * 5
    s = mixing.MixSampler(sources, [1, 1], seed=3, length=4000)
    draws = [i for i, _ in s]
    assert len(draws) == 4000
    frac = np.mean([sources[i] for i in draws])
    assert abs(frac - 0.5) < 0.03  # by size it would be 0.05
    assert [i for i, _ in s] == draws
    s.set_epoch(1)
    assert [i for i, _ in s] != draws
    only0 = mixing.MixSampler(sources, [1, 0], seed=3)
    assert len(only0) == 100 and all(i < 95 for i, _ in only0)
    with pytest.raises(SynthreidError, match="mix_ratio"):
        mixing.MixSampler(sources, [1, -1], seed=0)
    with pytest.raises(SynthreidError, match="2 --train"):
        mixing.normalise_ratio([1, 2, 3], 2)


def test_trainer_subsamples_each_dataset_and_mixes(tmp_path, monkeypatch):
    a = make_synth_dataset(tmp_path / "a", n_ids=6, per_id=4, seed=1)
    b = make_synth_dataset(tmp_path / "b", n_ids=5, per_id=4, seed=2)
    cfg = small_cfg(
        a, train=[str(a), str(b)], train_ids=[3, None], train_images_per_id=[2, None], mix_ratio=[0.0, 1.0]
    )
    t = Trainer(cfg, tmp_path / "r", progress=False)
    assert t.num_classes == 3 + 5 and len(t.records) == 3 * 2 + 5 * 4
    # same pid numbers in both datasets, distinct labels
    assert {r.pid for r in t.records[:6]} <= {r.pid for r in t.records[6:]}
    assert not set(t.labels[:6]) & set(t.labels[6:])
    seen = []
    real = data.ReidImages.__getitem__

    def spy(self, item):
        if isinstance(item, tuple):  # training samples (feature extraction indexes with ints)
            seen.append(item[0])
        return real(self, item)

    monkeypatch.setattr(data.ReidImages, "__getitem__", spy)
    t.train()
    assert seen and all(t.sources[i] == 1 for i in seen)  # mix ratio 0:1 draws only from b
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert [d["images"] for d in state["train"]] == [6, 20] and state["train"][1]["mix_fraction"] == 1.0
    with pytest.raises(SynthreidError, match="dataset twice"):
        small_cfg(a, train=[str(a), str(a)]).validate()  # the same dataset twice would share ids


def test_cli_mixing_options(tmp_path, capsys):
    a = make_synth_dataset(tmp_path / "a", n_ids=6, per_id=3, seed=1)
    b = make_synth_dataset(tmp_path / "b", n_ids=4, per_id=3, seed=2)
    run = tmp_path / "run"
    rc = main(
        [
            "benchmark",
            "train",
            "--train",
            str(a),
            "--train",
            str(b),
            "--train-ids",
            "2",
            "--train-ids",
            "all",
            "--train-images-per-id",
            "2",
            "--mix-ratio",
            "3:1",
            "--loss",
            "sce",
            "--sce-alpha",
            "0.5",
            "--val",
            str(a),
            "--arch",
            "tiny",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--workers",
            "0",
            "--height",
            "64",
            "--width",
            "32",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    assert rc == 0
    cfg = json.loads((run / "config.json").read_text())
    assert (
        cfg["train_ids"] == [2, None] and cfg["train_images_per_id"] == [2] and cfg["mix_ratio"] == [3.0, 1.0]
    )
    assert cfg["loss"] == "sce" and cfg["sce_alpha"] == 0.5
    with pytest.raises(SystemExit):
        main(["benchmark", "train", "--train", str(a), "--val", str(a), "--train-ids", "0"])
    assert "positive integer or 'all'" in capsys.readouterr().err
    rc = main(
        [
            "benchmark",
            "train",
            "--train",
            str(a),
            "--val",
            str(a),
            "--mix-ratio",
            "1,1",
            "--arch",
            "tiny",
            "--workers",
            "0",
            "--out",
            str(tmp_path / "bad"),
        ]
    )
    assert rc == 2 and "mix_ratio has 2 values for 1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()

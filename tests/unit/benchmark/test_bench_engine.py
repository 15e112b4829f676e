"""Training: learning on a toy set, resume, finetuning, mixed datasets, checkpoints."""

import functools
import json

import pytest

torch = pytest.importorskip("torch")

from synthreid.benchmark import engine, runs  # noqa: E402
from synthreid.benchmark.engine import Trainer, evaluate_run, run_training  # noqa: E402

from .bench_fixtures import make_synth_dataset, small_cfg  # noqa: E402

pytestmark = pytest.mark.torch


small_cfg = functools.partial(small_cfg, epochs=2, draws=3)


@pytest.fixture
def small_ds(tmp_path):
    return make_synth_dataset(tmp_path / "small", n_ids=8, per_id=4, seed=1)


def test_learns_far_above_chance(tmp_path, toy_dataset):
    cfg = small_cfg(toy_dataset, test=[str(toy_dataset)], epochs=4, batch_size=32, protocol="thesis")
    results = run_training(cfg, tmp_path / "run", progress=False)
    res = results[str(toy_dataset)]
    assert res["rank1"] > 0.5, res["rank1"]  # chance is 1/20
    assert res["draws"] == 3 and len(res["cmc"]) == 100 and res["cmc"][19] == pytest.approx(1.0)
    run = tmp_path / "run"
    for name in (
        "config.json",
        "state.json",
        "metrics.json",
        "cmc.csv",
        "val_curve.csv",
        "val_curve.png",
        "checkpoints/best.pt",
        "checkpoints/last.pt",
    ):
        assert (run / name).is_file(), name
    curve = (run / "val_curve.csv").read_text().splitlines()
    assert len(curve) == 5 and curve[0].startswith("epoch,loss,acc,val_score")
    state = json.loads((run / "state.json").read_text())
    scores = [float(line.split(",")[3]) for line in curve[1:]]
    assert state["best_score"] == pytest.approx(max(scores)) and state["best_epoch"] == 1 + scores.index(
        max(scores)
    )


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_continues_where_it_stopped(tmp_path, small_ds):
    straight = Trainer(small_cfg(small_ds, epochs=3), tmp_path / "a", progress=False)
    straight.train()
    first = Trainer(small_cfg(small_ds, epochs=2), tmp_path / "b", progress=False)
    first.train()
    resumed = Trainer(small_cfg(small_ds, epochs=3), tmp_path / "b", progress=False)
    assert resumed.start_epoch == 2 and len(resumed.history) == 2
    resumed.train()
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    a, b = _weights(straight.model), _weights(resumed.model)
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    # a finished run resumed again trains nothing more
    again = Trainer(small_cfg(small_ds, epochs=3), tmp_path / "b", progress=False)
    assert again.train() == {} and again.start_epoch == 3


def test_resume_with_other_settings_refused(tmp_path, small_ds):
    Trainer(small_cfg(small_ds, epochs=1), tmp_path / "r", progress=False).train()
    with pytest.raises(runs.RunError, match="lr"):
        Trainer(small_cfg(small_ds, epochs=2, lr=0.3), tmp_path / "r", progress=False)


def test_corrupt_checkpoint_named(tmp_path, small_ds):
    Trainer(small_cfg(small_ds, epochs=1), tmp_path / "r", progress=False).train()
    (tmp_path / "r" / "checkpoints" / "last.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(runs.RunError, match="last.pt.*corrupt"):
        Trainer(small_cfg(small_ds, epochs=2), tmp_path / "r", progress=False)


def test_finetune_resizes_classifier_and_lowers_feature_lr(tmp_path, small_ds):
    Trainer(small_cfg(small_ds, epochs=1), tmp_path / "src", progress=False).train()
    src_model, _ = engine.load_model(tmp_path / "src")
    real = make_synth_dataset(tmp_path / "real", n_ids=5, per_id=4, seed=7)
    ft = Trainer(
        small_cfg(real, epochs=1, finetune_from=str(tmp_path / "src"), finetune_lr_mult=0.1),
        tmp_path / "ft",
        progress=False,
    )
    assert src_model.head.classifier.out_features == 8
    assert ft.model.head.classifier.out_features == 5
    torch.testing.assert_close(ft.model.backbone[0][0].weight, src_model.backbone[0][0].weight)
    lrs = [g["lr"] for g in ft.optimizer.param_groups]
    assert lrs == pytest.approx([0.005, 0.05])
    ft.train()
    with pytest.raises(runs.RunError, match="arch"):
        Trainer(
            small_cfg(real, arch="inception", finetune_from=str(tmp_path / "src")),
            tmp_path / "x",
            progress=False,
        )


def test_mixed_datasets_get_disjoint_labels(tmp_path, small_ds):
    other = make_synth_dataset(tmp_path / "other", n_ids=5, per_id=4, seed=9)
    t = Trainer(
        small_cfg(small_ds, train=[str(small_ds), str(other)], epochs=1), tmp_path / "m", progress=False
    )
    assert t.num_classes == 13 and len(t.records) == 8 * 4 + 5 * 4
    assert sorted(set(t.labels)) == list(range(13))


def test_eval_and_market_protocol_on_run(tmp_path, small_ds):
    Trainer(small_cfg(small_ds, epochs=1), tmp_path / "r", progress=False).train()
    res = evaluate_run(tmp_path / "r", str(small_ds), protocol="market", workers=0, progress=False)
    assert res["protocol"] == "market" and 0 <= res["mAP"] <= 1 and res["num_query"] == 16
    metrics = runs.load_metrics(tmp_path / "r")
    assert "small:market" in metrics
    assert (tmp_path / "r" / "cmc.csv").read_text().startswith("rank,small:market")


def test_inception_trains_one_step(tmp_path):
    ds = make_synth_dataset(tmp_path / "d", n_ids=8, per_id=2, seed=3)
    t = Trainer(small_cfg(ds, arch="inception", epochs=1, batch_size=16), tmp_path / "r", progress=False)
    row = t.train()
    assert row["epoch"] == 1 and row["loss"] == row["loss"]  # not NaN
    assert t.model.head.feat.in_features == 1536


def test_a_run_of_the_older_layout_is_evaluated_and_resumed(tmp_path, small_ds):
    """Before 2026-12 a benchmark run kept last.pt / best.pt at the top of its folder."""
    run = tmp_path / "r"
    Trainer(small_cfg(small_ds, epochs=1), run, progress=False).train()
    for name in ("last", "best"):
        (run / "checkpoints" / f"{name}.pt").rename(run / f"{name}.pt")
    (run / "checkpoints").rmdir()
    assert engine.load_model(run)[1]["epoch"] == 1  # read from RUN/best.pt
    Trainer(small_cfg(small_ds, epochs=2), run, progress=False).train()  # resumes from RUN/last.pt
    assert engine.load_model(run, "last")[1]["epoch"] == 2
    assert not (run / "last.pt").exists() and (run / "checkpoints" / "last.pt").is_file()

"""Robustness and safety of the benchmark: checkpoints load weights only, protocols refuse
unscorable test sets before training, bad images give one line (with loader workers too) or
are skipped with --skip-bad, failed starts leave no run folder, defaults fit the machine."""

import functools
import json
import logging
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from synthreid import cliutil  # noqa: E402
from synthreid.benchmark import protocols, runs  # noqa: E402
from synthreid.benchmark.datasets import ReidDataset, ReidRecord, read_dataset  # noqa: E402
from synthreid.benchmark.engine import TrainConfig, Trainer, evaluate_run  # noqa: E402
from synthreid.cli import main  # noqa: E402
from synthreid.dataset import image_stem, parse_image_name  # noqa: E402
from synthreid.errors import DatasetError  # noqa: E402

from .bench_fixtures import make_synth_dataset, small_cfg  # noqa: E402

pytestmark = pytest.mark.torch


small_cfg = functools.partial(small_cfg, threads=1)


class Payload:
    """Unpickling this runs ``touch MARKER`` (what a hostile checkpoint does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def hostile_checkpoint(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": "tiny", "num_classes": 2, "config": {}, "model": Payload(marker)}, path)
    return path


def test_malicious_checkpoint_is_refused_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    run = tmp_path / "runs" / "evil"
    hostile_checkpoint(run / "best.pt", marker)
    with pytest.raises(
        runs.RunError, match=r"best\.pt: refused: not a pure-weights checkpoint.*posix\.system"
    ):
        runs.load_checkpoint(run / "best.pt")
    with pytest.raises(runs.RunError, match="refused"):  # the eval path (what a gpu worker runs)
        evaluate_run(run, str(tmp_path), workers=0, progress=False)
    ds = make_synth_dataset(tmp_path / "ds", n_ids=4, per_id=2)
    assert main(["benchmark", "eval", str(run), "--test", str(ds), "--workers", "0", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "best.pt: refused" in err[0], err
    # the same file as a refiner checkpoint and as user --weights
    from synthreid.benchmark.models import ModelError, build
    from synthreid.refine.errors import RefineError
    from synthreid.refine.train import load_checkpoint as load_refiner_checkpoint

    with pytest.raises(RefineError, match="best.pt: refused"):
        load_refiner_checkpoint(run / "best.pt")
    with pytest.raises(ModelError, match="best.pt: refused"):
        build("resnet50", num_classes=2, weights=str(run / "best.pt"))
    assert not marker.exists()


def test_checkpoints_we_write_load_weights_only(tmp_path):
    ds = make_synth_dataset(tmp_path / "ds", n_ids=4, per_id=2, seed=2)
    Trainer(small_cfg(ds), tmp_path / "r", progress=False).train()
    for name in ("best.pt", "last.pt"):
        torch.load(
            tmp_path / "r" / "checkpoints" / name, weights_only=True
        )  # raises if anything but weights were saved
    import numpy as np

    with pytest.raises(TypeError, match=r"\['score'\].*numpy"):  # refused before writing, not after
        runs.save_checkpoint(tmp_path / "x.pt", {"model": {}, "score": np.float64(1.0)})
    assert not (tmp_path / "x.pt").exists()


def one_camera_majority(root: Path, n_ids=8, single=6) -> Path:
    """A dataset whose first ``single`` identities are seen by camera 1 only."""
    make_synth_dataset(root, n_ids=n_ids, per_id=4, seed=4)
    for p in sorted((root / "images").iterdir()):
        pid, cam, idx = parse_image_name(p.name)
        if pid < single and cam != 1:
            p.rename(p.with_name(image_stem(pid, 1, idx) + p.suffix))
    return root


def test_unscorable_test_set_refused_before_training(tmp_path):
    good = make_synth_dataset(tmp_path / "good", n_ids=6, per_id=4, seed=1)
    bad = one_camera_majority(tmp_path / "bad")
    run = tmp_path / "run"
    with pytest.raises(
        DatasetError,
        match="test identities need images from >= 2 cameras; 6 of 8 have one: "
        "render more images per character",
    ):
        Trainer(small_cfg(good, test=[str(bad)], protocol="thesis"), run, progress=False)
    single = make_synth_dataset(tmp_path / "single", n_ids=4, per_id=3, n_cams=1)
    with pytest.raises(DatasetError, match="0 queries.*render more images per character"):
        Trainer(small_cfg(good, test=[str(single)], protocol="market"), run, progress=False)
    assert not run.exists()  # refused in the constructor: no config, no checkpoint, no epoch
    # a minority of one-camera identities is scored without them
    ok = one_camera_majority(tmp_path / "ok", n_ids=8, single=2)
    Trainer(small_cfg(good, test=[str(ok)], protocol="thesis"), run, progress=False)
    assert (run / "config.json").is_file()
    res = protocols.evaluate(
        "thesis", read_dataset(ok), lambda rs: torch.eye(8)[[r.pid for r in rs]].numpy(), draws=2
    )
    assert res["num_ids"] == 6 and res["rank1"] == 1.0


def test_check_test_set_rules():
    def rec(pid, cam, i):
        return ReidRecord(f"/x/{pid}_{cam}_{i}.png", pid, cam)

    query = [rec(p, 1, 0) for p in range(4)]
    gallery = [rec(p, 2, 1) for p in range(1)] + [rec(p, 1, 2) for p in range(1, 4)]
    ds = ReidDataset("d", Path("/x"), "market1501", [], [], query, gallery)
    with pytest.raises(
        DatasetError, match="3 of 4 queries have no gallery image of the same identity on another"
    ):
        protocols.check_test_set("market", ds)
    ds.gallery = [rec(p, 1, 2) for p in range(4)]
    with pytest.raises(
        DatasetError, match="no query has a gallery image of the same identity on another camera"
    ):
        protocols.check_test_set("cuhk03", ds)
    ds.gallery = [rec(p, 2, 1) for p in range(3)] + [rec(3, 1, 2)]
    assert "1 of 4 queries" in protocols.check_test_set("market", ds)[0]
    with pytest.raises(DatasetError, match="validation needs >= 2 identities with >= 2 images each; 1 of 3"):
        protocols.check_validation_set([rec(0, 1, 0), rec(0, 2, 1), rec(1, 1, 0), rec(2, 1, 0)], "val")


def corrupt_inside(path: Path) -> None:
    """Break a PNG's pixel data but keep its header and IEND (passes the cheap check, fails decoding)."""
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 8
    data[start : start + 40] = bytes(40)
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_corrupt_image_with_loader_workers_is_one_line_and_run_folder_removed(tmp_path):
    ds = make_synth_dataset(tmp_path / "ds", n_ids=6, per_id=4, seed=5)
    victim = sorted((ds / "images").iterdir())[7]
    corrupt_inside(victim)
    run = tmp_path / "run"
    t = Trainer(small_cfg(ds, workers=2), run, progress=False)
    assert (run / "config.json").is_file()
    with pytest.raises(DatasetError) as info:
        t.train()
    msg = str(info.value)
    assert msg.startswith(f"{victim}: unreadable image") and "\n" not in msg and "Traceback" not in msg, msg
    assert not run.exists()  # created by this failed start: removed again
    nested = tmp_path / "runs" / "group" / "run"  # parents it had to create go too
    with pytest.raises(DatasetError):
        Trainer(small_cfg(ds), nested, progress=False).train()
    assert not (tmp_path / "runs").exists()
    # a folder that existed before the start is left in place
    run.mkdir()
    t = Trainer(small_cfg(ds), run, progress=False)
    with pytest.raises(DatasetError):
        t.train()
    assert run.is_dir()


def test_truncated_image_cli_one_line_then_skip_bad_trains(tmp_path, capsys, caplog):
    ds = make_synth_dataset(tmp_path / "ds", n_ids=6, per_id=4, seed=6)
    victim = sorted((ds / "images").iterdir())[5]
    truncate(victim)
    run = tmp_path / "run"
    args = [
        "benchmark",
        "train",
        "--train",
        str(ds),
        "--val",
        str(ds),
        "--arch",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--height",
        "64",
        "--width",
        "32",
        "--workers",
        "2",
        "--threads",
        "1",
        "--out",
        str(run),
        "--quiet",
    ]
    assert main(args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("synthreid: error")]
    assert err == [
        f"synthreid: error: {victim}: truncated PNG (no IEND chunk at its end) (--skip-bad skips bad files)"
    ]
    assert not run.exists()
    with caplog.at_level(logging.WARNING):
        assert main([*(("0" if a == "2" else a) for a in args), "--skip-bad"]) == 0  # 0 workers: quicker
    assert f"{ds}: skipped 1 bad files" in caplog.text
    state = json.loads((run / "state.json").read_text())
    assert state["epochs_done"] == 1 and state["train"][0]["images"] == 6 * 4 - 1


def test_few_validation_identities_flagged(tmp_path, caplog, monkeypatch):
    ds = make_synth_dataset(tmp_path / "ds", n_ids=8, per_id=2, seed=7)
    texts = []
    real = runs.save_png

    def spy(fig, path, **kw):
        texts.extend(t.get_text() for t in fig.texts)
        return real(fig, path, **kw)

    monkeypatch.setattr(runs, "save_png", spy)
    with caplog.at_level(logging.INFO):
        Trainer(small_cfg(ds), tmp_path / "r", progress=False).train()
    assert "only 8 validation identities (< 30)" in caplog.text and ">= 93 by construction" in caplog.text
    assert "score = area under the CMC" in caplog.text
    assert any("only 8 validation identities" in t for t in texts)
    header, row = (tmp_path / "r" / "val_curve.csv").read_text().splitlines()[:2]
    assert header == "epoch,loss,acc,val_score,val_rank1,val_mAP,lr"
    score, rank1, m_ap = (float(v) for v in row.split(",")[3:6])
    assert 93 <= score <= 100 and 0 <= rank1 <= m_ap <= 100


def test_loader_defaults_fit_the_machine(monkeypatch):
    cores = cliutil.available_cores()
    cfg = TrainConfig(train=["x"], val="x")
    assert 0 <= cfg.workers <= min(4, max(0, cores - 1))
    from synthreid.cli import build_parser

    args = build_parser().parse_args(["benchmark", "train", "--train", "a", "--val", "b"])
    assert args.workers <= max(0, cores - 1) and args.threads is None
    args = build_parser().parse_args(["benchmark", "eval", "run", "--test", "t", "--threads", "2"])
    assert args.threads == 2
    for n, want in ((1, 0), (2, 1), (3, 2), (64, 4)):
        monkeypatch.setattr(cliutil, "available_cores", lambda n=n: n)
        assert TrainConfig(train=["x"], val="x").workers == want
        assert build_parser().parse_args(["benchmark", "train", "--train", "a", "--val", "b"]).workers == want


def test_eval_names_test_folder_and_report_prints_paths(tmp_path, capsys):
    ds = make_synth_dataset(tmp_path / "folder-name", n_ids=6, per_id=4, seed=8)
    manifest = json.loads((ds / "manifest.json").read_text())
    manifest["name"] = "manifest-name"
    (ds / "manifest.json").write_text(json.dumps(manifest))
    assert read_dataset(ds).name == "manifest-name"
    Trainer(small_cfg(ds), tmp_path / "r", progress=False).train()
    assert (
        main(
            [
                "benchmark",
                "eval",
                str(tmp_path / "r"),
                "--test",
                str(ds),
                "--protocol",
                "market",
                "--workers",
                "0",
                "--threads",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("folder-name [market]: r1=")
    assert list(runs.load_metrics(tmp_path / "r")) == ["folder-name:market"]
    assert main(["benchmark", "report", str(tmp_path / "r"), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out.rstrip().splitlines()
    assert out[-1] == (
        f"wrote {tmp_path / 'rep' / 'report.md'} (this table), {tmp_path / 'rep' / 'report.csv'} "
        f"(one row per run, test and split) and {tmp_path / 'rep' / 'cmc.png'} (CMC curves)"
    )
    assert not any(line.startswith("{") for line in out)

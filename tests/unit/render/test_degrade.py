"""`synthreid degrade`: a valid derived dataset, labels recording the camera model, resume, refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from synthreid.cli import main
from synthreid.dataset import Dataset
from synthreid.errors import DatasetError
from synthreid.fsutil import sha256_file
from synthreid.render.camera_model import CameraModelSpec
from synthreid.render.degrade import MARKER, degrade_dataset

from ..refine.refine_helpers import make_source


@pytest.fixture
def source(tmp_path):
    root = make_source(tmp_path / "src", n_ids=10, per_id=4, size=(64, 32))  # 2 val ids
    # a joint on each person's rectangle centre, as render rows carry joints2d_crop
    for p in (root / "meta").glob("*.json"):
        row = json.loads(p.read_text())
        m = np.asarray(Image.open(root / "masks" / f"{p.stem}.png")) >= 128
        ys, xs = np.nonzero(m)
        row["joints2d_crop"] = {"pelvis": [float(xs.mean()) + 0.5, float(ys.mean()) + 0.5]}
        p.write_text(json.dumps(row))
    return root


def test_degrade_command_writes_a_valid_dataset(tmp_path, source, capsys):
    out = tmp_path / "deg"
    assert main(["degrade", str(source), "--out", str(out), "--seed", "3", "--quiet"]) == 0
    ds, src = Dataset(out), Dataset(source)
    assert ds.manifest["kind"] == "degraded" and ds.manifest["parent"]["path"] == str(source.resolve())
    assert (
        ds.manifest["camera_model"]["preset"] == "surveillance" and ds.manifest["camera_model"]["seed"] == 3
    )
    assert ds.splits == src.splits and not (out / MARKER).exists()
    recs, src_recs = ds.records(require_mask=True), src.records()
    assert [r.stem for r in recs] == [r.stem for r in src_recs]
    rows = {r["stem"]: r for r in ds.labels()}
    assert set(rows) == {r.stem for r in recs}
    for rec in recs:
        img = Image.open(out / rec.image)
        assert img.size == Image.open(source / rec.image).size  # same crop size as the source
        assert not np.array_equal(np.asarray(img), np.asarray(Image.open(source / rec.image)))
        row = rows[rec.stem]
        assert row["checksum"] == sha256_file(out / rec.image) and row["mask_checksum"] == sha256_file(
            out / rec.mask
        )
        params = row["camera_model"]
        assert params["camid"] == rec.camid and 40 <= params["jpeg_quality"] <= 90
        u, v = row["joints2d_crop"]["pelvis"]
        mask = np.asarray(Image.open(out / rec.mask)) >= 128
        if 0 <= u < mask.shape[1] and 0 <= v < mask.shape[0]:
            assert mask[int(v), int(u)], (rec.stem, u, v)
    # one camera, one white balance; the two cameras differ
    gains = {}
    for row in rows.values():
        gains.setdefault(row["camid"], set()).add(tuple(row["camera_model"]["wb_gains"]))
    assert all(len(g) == 1 for g in gains.values()) and len(set.union(*gains.values())) == 2

    # the same command again: already finished, nothing rewritten
    before = {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    assert main(["degrade", str(source), "--out", str(out), "--seed", "3", "--quiet"]) == 0
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    # another seed into the same folder is refused
    with pytest.raises(DatasetError, match="different dataset"):
        degrade_dataset(source, out, CameraModelSpec(), seed=4, progress=False)


def test_same_seed_same_bytes_and_resume(tmp_path, source):
    a = degrade_dataset(source, tmp_path / "a", CameraModelSpec(), seed=1, progress=False)
    b = tmp_path / "b"
    degrade_dataset(source, b, CameraModelSpec(), seed=1, progress=False)
    # simulate an interruption: the manifest, some images' meta rows and labels gone, marker back
    (b / "manifest.json").unlink()
    (b / "labels.jsonl").unlink()
    (b / MARKER).write_text(
        json.dumps(
            {
                "parent": {"name": Dataset(source).name, "path": str(source.resolve())},
                "camera_model": {
                    "kind": "camera_model",
                    "preset": None,
                    "spec": CameraModelSpec().to_dict(),
                    "seed": 1,
                },
            }
        )
    )
    gone = sorted((b / "meta").iterdir())[:5]
    for p in gone:
        (b / "images" / f"{p.stem}.png").unlink()
        p.unlink()
    with pytest.raises(DatasetError):
        Dataset(b)  # no manifest: not a dataset while unfinished
    degrade_dataset(source, b, CameraModelSpec(), seed=1, progress=False)
    for sub in ("images", "masks"):
        for p in sorted((a / sub).iterdir()):
            assert p.read_bytes() == (b / sub / p.name).read_bytes(), p.name
    assert (a / "labels.jsonl").read_text() == (b / "labels.jsonl").read_text()


def test_bad_config_names_the_field(tmp_path, source, capsys):
    cfg = tmp_path / "cam.toml"
    cfg.write_text("jpeg_quality = [0, 90]\n")
    assert main(["degrade", str(source), "--out", str(tmp_path / "x"), "--config", str(cfg), "--quiet"]) == 2
    assert "jpeg_quality" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(DatasetError, match="not an unfinished"):
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "file").write_text("x")
        degrade_dataset(source, tmp_path / "busy", CameraModelSpec(), progress=False)


@pytest.mark.torch
def test_benchmark_trains_on_a_degraded_dataset(tmp_path, source):
    pytest.importorskip("torch")
    from synthreid.benchmark.engine import TrainConfig, Trainer

    out = degrade_dataset(source, tmp_path / "deg", CameraModelSpec(), seed=0, progress=False)
    cfg = TrainConfig(
        train=[str(out)],
        val=str(out),
        arch="tiny",
        height=64,
        width=32,
        epochs=1,
        batch_size=8,
        lr=0.05,
        dropout=0.0,
        workers=0,
        draws=1,
        threads=1,
    )
    row = Trainer(cfg, tmp_path / "run", progress=False).train()
    assert row["epoch"] == 1 and row["loss"] == row["loss"]  # trained one epoch, loss not NaN


# -- a study arm with a camera model (synthreid.study) ------------------------------------------


def _study(tmp_path, degrade_line: str):
    from ..study.study_fixtures import make_market, study_text, write_study

    if not (tmp_path / "real").exists():
        make_market(tmp_path / "real", seed=3)
    arms = (
        '\n[[arms]]\nname = "I"\nkind = "render"\npreset = "I"\nidentities = 10\nimages = 3\n'
        f"size = [16, 32]\n{degrade_line}\n"
    )
    return write_study(tmp_path, study_text(arms, '\n[[test_sets]]\nname = "real"\npath = "real"\n'))


def _plan(tmp_path, path):
    from synthreid.study.cache import StepCache
    from synthreid.study.fingerprint import FingerprintMemo
    from synthreid.study.spec import load_study
    from synthreid.study.steps import plan

    return plan(load_study(path), StepCache(tmp_path / "cache"), FingerprintMemo(None))


@pytest.mark.torch
def test_study_arm_degrade_stage(tmp_path):
    from synthreid.study.spec import load_study

    plain = {(s.stage, s.seed): s for s in _plan(tmp_path, _study(tmp_path, "")) if s.arm == "I"}
    steps = [
        s
        for s in _plan(tmp_path, _study(tmp_path, 'degrade = { preset = "surveillance", seed = 1 }'))
        if s.arm == "I"
    ]
    by = {(s.stage, s.seed): s for s in steps}
    order = [s.stage for s in steps]
    assert order.index("render") < order.index("degrade") < order.index("train")
    deg = by[("degrade", None)]
    assert by[("render", None)].key == plain[("render", None)].key  # the render is shared
    assert deg.params["source"].endswith("dataset") and deg.params["seed"] == 1
    assert by[("train", 0)].params["config"]["train"] == [
        str(tmp_path / "cache" / "degrade" / deg.key / "dataset")
    ]
    assert by[("train", 0)].key != plain[("train", 0)].key
    other = {s.stage: s for s in _plan(tmp_path, _study(tmp_path, "degrade = { seed = 2 }")) if s.arm == "I"}
    assert other["degrade"].key != deg.key  # the seed is part of the key
    for line, field in (
        ('degrade = { preset = "nope" }', "arms[0].degrade.preset"),
        ('degrade = { config = "missing.toml" }', "arms[0].degrade.config"),
        ("degrade = { blur = 1 }", "arms[0].degrade.blur"),
    ):
        from synthreid.study.spec import StudySpecError

        with pytest.raises(StudySpecError) as err:
            load_study(_study(tmp_path, line))
        assert err.value.field == field, (line, err.value)


def test_study_degrade_step_executes_and_resumes(tmp_path, source):
    from synthreid.study.steps import Step, execute

    step = Step(
        "degrade",
        "I",
        "k" * 24,
        40,
        params={
            "source": str(source),
            "seed": 0,
            "preset": "surveillance",
            "camera_model": CameraModelSpec().to_dict(),
        },
    )
    result, done = execute(step, tmp_path / "step", progress=False)
    assert result["images"] == 40 and done == 40
    assert Dataset(tmp_path / "step" / "dataset").manifest["kind"] == "degraded"
    assert execute(step, tmp_path / "step", progress=False)[1] == 0  # finished: nothing redone

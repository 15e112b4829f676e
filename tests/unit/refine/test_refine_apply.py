import json

import numpy as np
import pytest
from PIL import Image

from synthreid.dataset import Dataset
from synthreid.errors import DatasetError
from synthreid.refine import apply as apply_mod
from synthreid.refine.apply import MARKER, apply
from synthreid.refine.train import train

from .refine_helpers import tiny_config

pytestmark = pytest.mark.torch


@pytest.fixture
def run(tmp_path, domains):
    cfg = tiny_config(*domains, iters=2, checkpoint_every=2, sample_every=2)
    return train(cfg, tmp_path / "run", device="cpu", progress=False)


def test_apply_keeps_names_sizes_masks_labels(tmp_path, domains, run):
    src = Dataset(domains[0])
    out = apply(run, src.root, name="dsA-refined", batch_size=3, device="cpu", progress=False)
    assert out == src.root.parent / "dsA-refined"
    ref = Dataset(out)
    assert [(r.pid, r.camid, r.index, r.image, r.mask) for r in ref.records()] == [
        (r.pid, r.camid, r.index, r.image, r.mask) for r in src.records()
    ]
    changed = 0
    for r in src.records():
        with Image.open(src.root / r.image) as a, Image.open(ref.root / r.image) as b:
            assert a.size == b.size and b.mode == "RGB"
            changed += int(not np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b)))
        assert (src.root / r.mask).read_bytes() == (ref.root / r.mask).read_bytes()
    assert changed == len(src.records())
    assert list(ref.labels()) == list(src.labels())
    assert sorted(p.name for p in (ref.root / "meta").iterdir()) == sorted(
        p.name for p in (src.root / "meta").iterdir()
    )
    m = ref.manifest
    assert m["kind"] == "refined" and m["name"] == "dsA-refined"
    assert m["parent"] == {"name": "dsA", "path": str(src.root.resolve())}
    assert m["refiner_run"]["run_dir"] == str(run.resolve()) and m["refiner_run"]["iteration"] == 2
    assert m["splits"] == src.splits and m["counts"] == src.manifest["counts"]
    assert not (out / MARKER).exists() and not list(out.rglob(".*.tmp"))
    # Same job again: already finished, returned as is.
    assert apply(run, src.root, name="dsA-refined", device="cpu", progress=False) == out


def test_interrupted_apply_never_looks_finished_and_resumes(tmp_path, domains, run, monkeypatch):
    src = Dataset(domains[0])
    out = tmp_path / "refined"
    real_save = apply_mod._save_image
    calls = []

    def failing_save(img, path):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process dies mid-way
        calls.append(path.name)
        real_save(img, path)

    monkeypatch.setattr(apply_mod, "_save_image", failing_save)
    with pytest.raises(KeyboardInterrupt):
        apply(run, src.root, out_dir=out, batch_size=2, device="cpu", progress=False)
    assert not (out / "manifest.json").exists()
    with pytest.raises(DatasetError):
        Dataset(out)
    done = {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    assert sorted(done) == sorted(calls)

    resumed = []
    monkeypatch.setattr(
        apply_mod, "_save_image", lambda img, path: (resumed.append(path.name), real_save(img, path))
    )
    apply(run, src.root, out_dir=out, batch_size=2, device="cpu", progress=False)
    assert sorted(resumed) == sorted(r.stem + ".png" for r in src.records() if r.stem + ".png" not in done)
    assert all((out / "images" / n).stat().st_mtime_ns == t for n, t in done.items())
    assert len(Dataset(out).records()) == len(src.records())


def test_apply_refuses_foreign_folders(tmp_path, domains, run):
    src = domains[0]
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="occupied"):
        apply(run, src, out_dir=occupied, device="cpu", progress=False)
    with pytest.raises(DatasetError, match="dataset name"):
        apply(run, src, name="../escape", device="cpu", progress=False)
    marker_dir = tmp_path / "other"
    marker_dir.mkdir()
    (marker_dir / MARKER).write_text(json.dumps({"parent": {"name": "x", "path": "/x"}, "refiner_run": {}}))
    with pytest.raises(DatasetError, match="another source"):
        apply(run, src, out_dir=marker_dir, device="cpu", progress=False)


def test_apply_without_checkpoint_names_the_file(tmp_path, domains):
    from synthreid.refine.errors import RefineError

    with pytest.raises(RefineError, match="no last checkpoint.*checkpoints/last.pt"):
        apply(tmp_path / "no-run", domains[0], name="x", device="cpu", progress=False)
    assert not (domains[0].parent / "x").exists()

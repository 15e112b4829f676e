"""synthreid.runfolder: the one run-folder layout of refiner and re-ID runs, and older layouts."""

from __future__ import annotations

import pytest

from synthreid.runfolder import Progress, RunFolder, RunFolderError


def test_json_files_round_trip_and_missing_ones_are_named(tmp_path):
    f = RunFolder(tmp_path / "run")
    with pytest.raises(RunFolderError, match=r"run/config.json: missing"):
        f.read_config()
    assert f.read_metrics() == {} and f.read_state() == {} and f.progress() is None
    f.write_config({"lr": 0.1})
    f.set_progress(Progress(0, 10, "epoch"))  # a run starting: only its progress
    assert f.read_state() == {"progress": {"done": 0, "total": 10, "unit": "epoch"}}
    f.write_state(Progress(3, 10, "epoch"), best_epoch=2)
    f.set_progress(Progress(3, 12, "epoch"))  # resumed with more epochs: the rest stays
    assert f.read_state()["best_epoch"] == 2
    f.write_state(Progress(3, 10, "epoch"), best_epoch=2)
    f.write_metrics({"a:thesis": {"rank1": 0.5}})
    assert f.read_config() == {"lr": 0.1} and f.has_config()
    assert f.progress() == Progress(3, 10, "epoch") and f.read_state()["best_epoch"] == 2
    assert f.read_metrics() == {"a:thesis": {"rank1": 0.5}}
    (f.path / "config.json").write_text("[1, 2]")
    with pytest.raises(RunFolderError, match="config.json: expected a JSON object, got list"):
        f.read_config()
    (f.path / "metrics.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="metrics.json: unreadable JSON"):
        f.read_metrics()
    (f.path / "state.json").write_text('{"progress": {"done": 1, "total": 2, "unit": "parsecs"}}')
    with pytest.raises(RunFolderError, match="unit 'parsecs'"):
        f.progress()


def test_checkpoints_current_layout_first_then_older_ones(tmp_path):
    f = RunFolder(tmp_path)
    assert f.find_checkpoint("last") is None and f.find_checkpoint("best") is None
    with pytest.raises(RunFolderError, match="no best checkpoint.*checkpoints/best.pt.*best.pt"):
        f.require_checkpoint("best")
    with pytest.raises(ValueError, match="'first'"):
        f.checkpoint("first")
    (tmp_path / "best.pt").write_bytes(b"old re-ID")  # a benchmark run before 2026-12
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "latest.pt").write_bytes(b"old refiner")
    assert f.find_checkpoint("best") == tmp_path / "best.pt"
    assert f.find_checkpoint("last") == tmp_path / "checkpoints" / "latest.pt"
    f.retire_legacy_checkpoints("last")  # nothing new written yet: the old one stays
    assert (tmp_path / "checkpoints" / "latest.pt").is_file()
    f.checkpoint("last").write_bytes(b"new")
    assert f.find_checkpoint("last") == tmp_path / "checkpoints" / "last.pt"
    f.retire_legacy_checkpoints("last")
    assert not (tmp_path / "checkpoints" / "latest.pt").exists() and (tmp_path / "best.pt").is_file()


def test_artifacts_keep_only_the_latest_sample(tmp_path):
    f = RunFolder(tmp_path)
    for rel in ("config.json", "samples/iter_1.png", "samples/iter_2.png", ".hidden", "checkpoints/last.pt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert sorted(f.artifacts()) == ["checkpoints/last.pt", "config.json", "samples/iter_2.png"]

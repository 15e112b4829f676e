"""`synthreid demo` runs the whole loop (render, refine, benchmark, report) at toy size."""

import json

import pytest

from synthreid.cli import main
from synthreid.dataset import Dataset

pytestmark = [pytest.mark.blender, pytest.mark.torch, pytest.mark.slow]


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--characters", "6", "--images", "2", "--samples", "2",
               "--iters", "2", "--epochs", "1", "--arch", "tiny"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "stand-in" in text and "not real data" in text
    source, refined, target = (Dataset(out / n) for n in ("source", "refined", "target"))
    assert len(source.records()) == 12
    assert [r.image for r in refined.records()] == [r.image for r in source.records()]
    assert refined.manifest["kind"] == "refined"
    assert target.splits["test"] == sorted({r.pid for r in target.records()})
    report = out / "report"
    assert (report / "cmc.png").stat().st_size > 1000
    rows = (report / "report.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + two runs
    assert json.loads((out / "demo.json").read_text())["runs"]

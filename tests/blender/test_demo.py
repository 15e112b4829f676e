"""`synthreid demo` runs the whole loop (render, refine, benchmark, report) at toy size."""

import json
import subprocess
import sys

import pytest

from synthreid.dataset import Dataset

pytestmark = [pytest.mark.blender, pytest.mark.torch, pytest.mark.slow]


def test_demo_end_to_end(tmp_path):
    # A real `synthreid demo` process, as a user runs it (it also keeps torch out of the test
    # process, which has imported bpy and its glTF/FBX add-ons for other tests).
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthreid.cli",
            "demo",
            "--out",
            str(out),
            "--characters",
            "10",
            "--images",
            "2",
            "--samples",
            "2",
            "--iters",
            "2",
            "--epochs",
            "1",
            "--arch",
            "tiny",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert "stand-in" in text and "not real data" in text
    source, refined, target = (Dataset(out / n) for n in ("source", "refined", "target"))
    assert len(source.records()) == 20
    assert [r.image for r in refined.records()] == [r.image for r in source.records()]
    assert refined.manifest["kind"] == "refined"
    assert target.splits["test"] == sorted({r.pid for r in target.records()})
    report = out / "report"
    assert (report / "cmc.png").stat().st_size > 1000
    rows = (report / "report.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + two runs
    assert json.loads((out / "demo.json").read_text())["runs"]

"""A non-editable install (the Docker image's) ships every file of the package, data included:
the SQL migrations once were missing from it, so `synthreid db upgrade` failed in the container."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_contains_every_package_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "synthreid", src / "synthreid", ignore=ignore)
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["-w", str(tmp_path / "out"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = (tmp_path / "out").glob("synthreid-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        p.relative_to(src).as_posix()
        for p in (src / "synthreid").rglob("*")
        if p.is_file() and p.name != ".gitkeep"
    }
    missing = sorted(expected - shipped)
    assert not missing, f"not in the wheel: {missing[:10]}"
    assert "synthreid/workers/catalog/migrations/0001_initial.sql" in shipped

"""Clean-up of killed renders (no Blender): orphaned temp folders, worker temp files."""

import os
import subprocess
import sys

from synthreid.render.scratch import remove_worker_temps, sweep_orphan_temp_dirs


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sweep_removes_only_folders_of_dead_renders(tmp_path):
    dead = tmp_path / f"synthreid-render-{_dead_pid()}-abc123_x"
    live = tmp_path / f"synthreid-render-{os.getppid()}-abc123_x"  # a running process
    mine = tmp_path / f"synthreid-render-{os.getpid()}-abc123_x"
    stage = tmp_path / "synthreid-render-abc123_x"  # a RenderSession's own folder
    other = tmp_path / "unrelated-1-2"
    for d in (dead, live, mine, stage, other):
        (d / "blender_x").mkdir(parents=True)
    assert sweep_orphan_temp_dirs(str(tmp_path)) == 1
    assert not dead.exists() and live.exists() and mine.exists() and stage.exists() and other.exists()


def test_worker_temps_are_removed_by_pid_only(tmp_path):
    for sub in ("images", "masks", "meta"):
        (tmp_path / sub).mkdir()
    killed = tmp_path / "images" / ".00001_c2_0000.png.4242.tmp"
    other = tmp_path / "meta" / ".00001_c2_0001.json.777.tmp"
    final = tmp_path / "images" / "00001_c2_0000.png"
    for p in (killed, other, final):
        p.write_bytes(b"x")
    remove_worker_temps(tmp_path, [4242])
    assert not killed.exists() and other.exists() and final.exists()

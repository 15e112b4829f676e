"""Stopping `synthreid render` (a real subprocess with real Blender workers) and damaged files.

Every wait is for a state (a file appears, a process is gone); the bounds only turn a hang
into a failure and are generous because the suite runs with both cores busy. The measured
times are printed (pytest -s shows them).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthreid.cli import main
from synthreid.render.output import init_dataset, missing_images
from synthreid.render.spec import DatasetSpec
from synthreid.render.verify import verify_dataset
from synthreid.workers.embedded import render_dataset
from tests.blender.conftest import small_spec

pytestmark = pytest.mark.blender

EXIT_BOUND_S = 20.0  # from the signal to the exit of `render`, with both cores busy
STATE_BOUND_S = 300.0  # for a state to be reached at all (bpy start-up and first image)
NOISE = ("Traceback", "Not freed memory", "ReferenceError", "KeyboardInterrupt", "Error:")


def _planned(tmp_path: Path, samples: int = 4, characters: int = 12) -> Path:
    """A planned dataset folder; `render --out` renders it with the spec in its manifest."""
    spec = small_spec(
        characters=characters, images_per_character=2, output={"size": [32, 64]}, render={"samples": samples}
    )
    return init_dataset(spec, tmp_path / "ds")


class Render:
    """`synthreid render --out OUT` in its own session (a terminal's process group) with its
    own TMPDIR; stdout and stderr go to files."""

    def __init__(self, tmp_path: Path, out: Path, workers: int, tag: str):
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        self.out = out
        self.stdout, self.stderr = tmp_path / f"{tag}.out", tmp_path / f"{tag}.err"
        env = {**os.environ, "TMPDIR": str(self.tmpdir)}
        with open(self.stdout, "wb") as so, open(self.stderr, "wb") as se:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "synthreid.cli",
                    "render",
                    "--out",
                    str(out),
                    "--workers",
                    str(workers),
                    "--quiet",
                ],
                stdout=so,
                stderr=se,
                env=env,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def wait_for(self, what: str, predicate) -> None:
        deadline = time.monotonic() + STATE_BOUND_S
        while not predicate():
            if self.proc.poll() is not None:
                pytest.fail(f"render exited ({self.proc.returncode}) before {what}:\n{self.text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {STATE_BOUND_S} s:\n{self.text()}")
            time.sleep(0.02)

    def rendered(self) -> int:
        meta = self.out / "meta"
        return sum(1 for _ in meta.glob("*.json")) if meta.is_dir() else 0

    def children(self) -> list[int]:
        """PIDs whose parent is the render process (its workers and multiprocessing's helper)."""
        kids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    kids.append(int(d.name))
        return kids

    def exit_after_signal(self, t0: float) -> tuple[int, float]:
        try:
            rc = self.proc.wait(timeout=EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"render still running {EXIT_BOUND_S} s after the signal:\n{self.text()}")
        return rc, time.monotonic() - t0


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has exited: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_dead(pids: list[int]) -> float:
    t0 = time.monotonic()
    while any(_alive(p) for p in pids):
        if time.monotonic() - t0 > EXIT_BOUND_S:
            pytest.fail(
                f"still alive {EXIT_BOUND_S} s after the render parent ended: "
                f"{[p for p in pids if _alive(p)]}"
            )
        time.sleep(0.02)
    return time.monotonic() - t0


def _worker_pids(run: Render, n: int) -> list[int]:
    run.wait_for(f"{n} worker processes", lambda: len(run.children()) >= n)
    return run.children()


def _assert_clean(run: Render) -> None:
    text = run.text()
    for word in NOISE:
        assert word not in text, f"{word!r} reached the terminal:\n{text}"
    assert not list(run.out.rglob("*.tmp")), "half-written files left"
    assert not list(run.tmpdir.iterdir()), f"temp folders left: {list(run.tmpdir.iterdir())}"


def test_ctrl_c_finishes_the_images_in_progress_and_resume_completes(tmp_path):
    out = _planned(tmp_path)
    run = Render(tmp_path, out, workers=2, tag="first")
    run.wait_for("first finished image", lambda: run.rendered() >= 1)
    kids = _worker_pids(run, 2)
    t0 = time.monotonic()
    os.killpg(run.proc.pid, signal.SIGINT)  # as a terminal does: to the whole process group
    rc, dt = run.exit_after_signal(t0)
    print(f"\nSIGINT -> exit: {dt:.2f} s (rendered {run.rendered()} of 24)")
    assert rc == 130, run.text()
    assert "interrupted (SIGINT)" in run.text() and "labels.jsonl updated" in run.text()
    _wait_dead(kids)
    _assert_clean(run)
    report = verify_dataset(out)
    assert not report.damaged and not report.labels_stale and report.not_rendered, report.problems
    assert report.sound == run.rendered() < 24  # labels.jsonl holds exactly what was done

    again = Render(tmp_path, out, workers=2, tag="second")
    assert again.proc.wait(timeout=STATE_BOUND_S) == 0, again.text()
    _assert_clean(again)
    assert verify_dataset(out).ok


def test_ctrl_c_while_workers_start_blender_stops_at_once(tmp_path):
    out = _planned(tmp_path)
    run = Render(tmp_path, out, workers=2, tag="first")
    kids = _worker_pids(run, 3)  # two workers and multiprocessing's resource tracker, just started
    t0 = time.monotonic()
    os.killpg(run.proc.pid, signal.SIGINT)
    rc, dt = run.exit_after_signal(t0)
    print(f"\nSIGINT while starting -> exit: {dt:.2f} s (rendered {run.rendered()})")
    assert rc == 130, run.text()
    _wait_dead(kids)
    _assert_clean(run)
    assert not verify_dataset(out).damaged


def test_second_ctrl_c_stops_at_once_without_half_written_files(tmp_path):
    # Slow images (many samples) so that an image is in progress when both signals arrive.
    out = _planned(tmp_path, samples=400, characters=2)
    run = Render(tmp_path, out, workers=1, tag="first")
    run.wait_for("first finished image", lambda: run.rendered() >= 1)
    kids = _worker_pids(run, 1)
    # One worker: right after writing a meta row it is inside the next image.
    os.killpg(run.proc.pid, signal.SIGINT)
    run.wait_for("the stop notice", lambda: "stopping after the images in progress" in run.text())
    t0 = time.monotonic()
    os.killpg(run.proc.pid, signal.SIGINT)
    rc, dt = run.exit_after_signal(t0)
    print(f"\nsecond SIGINT -> exit: {dt:.2f} s")
    assert rc == 130, run.text()
    assert "labels.jsonl not updated" in run.text(), run.text()  # it did not wait for the image
    _wait_dead(kids)
    _assert_clean(run)
    assert run.rendered() == 1  # the image in progress was discarded, not half-written
    report = verify_dataset(out)
    assert report.sound == 1 and not report.damaged and not report.temps, report.problems


@pytest.mark.parametrize(
    "signum, group", [(signal.SIGTERM, False), (signal.SIGHUP, True)], ids=["SIGTERM-parent", "SIGHUP-group"]
)
def test_sigterm_or_hangup_stops_cleanly_and_leaves_no_worker(tmp_path, signum, group):
    out = _planned(tmp_path)
    run = Render(tmp_path, out, workers=2, tag="first")
    run.wait_for("first finished image", lambda: run.rendered() >= 1)
    kids = _worker_pids(run, 2)
    t0 = time.monotonic()
    if group:  # a closed terminal hangs up its whole foreground process group
        os.killpg(run.proc.pid, signum)
    else:  # the parent only, as `kill PID` does
        os.kill(run.proc.pid, signum)
    rc, dt = run.exit_after_signal(t0)
    gone = _wait_dead(kids)
    name = signal.Signals(signum).name
    print(f"\n{name} -> exit: {dt:.2f} s, workers gone {gone:.2f} s later")
    assert rc == 128 + signum, run.text()
    assert f"interrupted ({name})" in run.text()
    _assert_clean(run)
    assert not verify_dataset(out).damaged


def test_sigkill_of_the_parent_kills_the_workers_and_the_next_run_cleans_up(tmp_path):
    out = _planned(tmp_path)
    run = Render(tmp_path, out, workers=2, tag="first")
    run.wait_for("first finished image", lambda: run.rendered() >= 1)
    kids = _worker_pids(run, 2)
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(timeout=EXIT_BOUND_S)
    gone = _wait_dead(kids)
    print(f"\nSIGKILL: workers gone {gone:.2f} s after the parent")
    assert list(run.tmpdir.glob(f"synthreid-render-{run.proc.pid}-*"))  # nobody could remove it

    again = Render(tmp_path, out, workers=2, tag="second")
    assert again.proc.wait(timeout=STATE_BOUND_S) == 0, again.text()
    _assert_clean(again)  # the dead run's temp folder and temp files are gone too
    assert verify_dataset(out).ok


def _is_worker(pid: int) -> bool:
    """A render worker (a spawned process), not multiprocessing's resource tracker."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in cmd and b"resource_tracker" not in cmd


def test_a_worker_killed_mid_run_fails_its_person_and_the_others_finish(tmp_path):
    out = _planned(tmp_path)
    run = Render(tmp_path, out, workers=2, tag="first")
    run.wait_for("first finished image", lambda: run.rendered() >= 1)
    victim = next(p for p in _worker_pids(run, 2) if _is_worker(p))
    os.kill(victim, signal.SIGKILL)  # e.g. the kernel's OOM killer
    assert run.proc.wait(timeout=STATE_BOUND_S) == 1, run.text()  # the other worker finished the rest
    assert f"render worker {victim} died (exit code -9)" in run.text()
    _assert_clean(run)
    report = verify_dataset(out)
    assert not report.damaged and not report.labels_stale, report.problems
    assert 0 < len(report.not_rendered) <= 2  # at most the killed worker's person

    again = Render(tmp_path, out, workers=2, tag="second")
    assert again.proc.wait(timeout=STATE_BOUND_S) == 0, again.text()
    _assert_clean(again)
    assert verify_dataset(out).ok


def test_truncated_image_is_rerendered_and_verify_fix_gives_a_clean_dataset(tmp_path, capsys):
    spec: DatasetSpec = small_spec(characters=1, images_per_character=2, output={"size": [32, 64]})
    out = tmp_path / "ds"
    first = render_dataset(spec, out, workers=1, progress=False)
    assert first.rendered == 2 and verify_dataset(out).ok
    victim = sorted((out / "images").glob("*.png"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])

    assert missing_images(out) == {0: [int(victim.stem.rsplit("_", 1)[1])]}
    assert main(["verify", str(out), "--quiet"]) == 1
    assert f"images/{victim.name}: sha256 differs" in capsys.readouterr().out
    resumed = render_dataset(spec, out, workers=1, progress=False)
    assert (resumed.rendered, resumed.skipped) == (1, 1)
    assert main(["verify", str(out), "--quiet"]) == 0

    victim.write_bytes(data[:100])
    assert main(["verify", str(out), "--quiet", "--fix"]) == 1
    assert not victim.exists()
    assert main(["render", "--out", str(out), "--quiet", "--workers", "1"]) == 0  # spec from the manifest
    assert main(["verify", str(out), "--quiet"]) == 0

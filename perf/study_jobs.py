"""Wall time of one small study with ``--jobs 1`` against ``--jobs N``, and that both give the
same numbers.

The study is made of test fixtures (tests/unit/study/study_fixtures.py: 32x16 crops, colour-coded
identities), never real data: ``--arms`` dataset arms of 10 identities x 4 images, ``--seeds``
seeds, the tiny network for ``--epochs`` epochs, one labelled test set with its real-trained
anchor, and the chance, untrained and hand-crafted baselines. Each run is a fresh
``synthreid study`` process into an empty output folder (imports, planning, worker start-up and
the report included).

Usage: python perf/study_jobs.py [--jobs 2] [--arms 3] [--seeds 2] [--epochs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "study"))

from study_fixtures import make_market  # noqa: E402


def study_file(folder: Path, arms: int, seeds: int, epochs: int) -> Path:
    lines = [
        'name = "jobs"',
        f"seeds = {list(range(seeds))}",
        "[recipe]",
        'arch = "tiny"',
        f"epochs = {epochs}",
        "batch_size = 8",
        "lr = 0.05",
        "workers = 0",
        'device = "cpu"',
        "threads = 1",
        "val_ids = 2",
        "[baselines]",
        "chance_draws = 4",
    ]
    for i in range(arms):
        make_market(folder / f"arm{i}", train_ids=range(30 + 10 * i, 40 + 10 * i), seed=10 + i)
        lines += ["[[arms]]", f'name = "arm{i}"', 'kind = "dataset"', f'path = "arm{i}"']
    make_market(folder / "real", seed=3)
    lines += ["[[test_sets]]", 'name = "real"', 'path = "real"']
    path = folder / "jobs.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(study: Path, out: Path, jobs: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-c", "import sys; from synthreid.cli import main; sys.exit(main())"]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*cmd, "study", str(study), "--out", str(out), "--jobs", str(jobs), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"--jobs {jobs} failed:\n{proc.stderr[-4000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="the parallel run's --jobs")
    ap.add_argument("--arms", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="study-jobs-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        study = study_file(folder, args.arms, args.seeds, args.epochs)
        walls = {j: run(study, folder / f"out-jobs{j}", j) for j in (1, args.jobs)}
        same = all(
            (folder / "out-jobs1" / f).read_text() == (folder / f"out-jobs{args.jobs}" / f).read_text()
            for f in ("report.csv", "seeds.csv")
        )
        steps = sum(1 for _ in (folder / "out-jobs1" / "cache").glob("*/*/done.json"))
        print(f"study: {args.arms} arms + anchor x {args.seeds} seeds, {args.epochs} epochs, {steps} steps")
        for j, w in walls.items():
            print(f"--jobs {j}: {w:6.1f} s wall")
        print(f"speed-up {walls[1] / walls[args.jobs]:.2f}x; identical report.csv and seeds.csv: {same}")
        for j in walls:
            md = (folder / f"out-jobs{j}" / "report.md").read_text()
            print(f"--jobs {j}: " + next(ln for ln in md.splitlines() if ln.startswith("All steps together")))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

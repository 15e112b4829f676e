"""A refiner run as a farm task on the real Postgres and Redis: `synthreid submit` puts it on
the gpu queue and a worker running docker-compose.yml's `gpu-worker` command (with --burst)
trains it in a child process and records it in the catalog."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.unit.workers.test_gpu_jobs import TINY, make_dataset, make_target

from .conftest import compose_service_command

pytestmark = pytest.mark.integration


def test_submit_refine_train_and_gpu_worker_records_the_run(farm):
    import redis

    farm.migrate()
    make_dataset(farm.data / "datasets" / "synth")
    make_target(farm.data / "datasets" / "real")
    out = farm.cli(
        "submit",
        "refine-train",
        "--name",
        "r1",
        "--",
        "--source",
        "synth",
        "--target",
        "real",
        "--iters",
        "2",
        *TINY,
    ).stdout
    assert "as task" in out and "gpu queue" in out
    assert redis.Redis.from_url(farm.redis_url).llen("rq:queue:synthreid-gpu") == 1
    assert farm.query("SELECT state FROM runs WHERE name = 'r1'") == [("queued",)]
    bad = farm.cli(
        "submit",
        "refine-train",
        "--name",
        "r2",
        "--",
        "--source",
        "../synth",
        "--target",
        "real",
        check=False,
    )
    assert bad.returncode == 2 and "dataset name" in bad.stderr

    log_path = farm.tmp / "gpu-worker.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [*compose_service_command("gpu-worker"), "--burst"],
            env=farm.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=farm.tmp,
        )
        farm.procs.append(proc)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"gpu worker did not finish:\n{log_path.read_text()[-3000:]}") from None
    wlog = log_path.read_text()
    assert proc.returncode == 0, wlog[-3000:]

    rows = farm.query(
        "SELECT r.kind, r.state, r.metrics, r.inputs, r.artifacts, r.run_dir, t.state, t.kind "
        "FROM runs r JOIN tasks t ON t.id = r.task_id WHERE r.name = 'r1'"
    )
    assert len(rows) == 1, rows
    kind, state, metrics, inputs, artifacts, run_dir, task_state, task_kind = rows[0]
    assert (kind, state, task_state, task_kind) == ("refiner", "done", "done", "train_refiner")
    assert metrics["iteration"] == 2 and inputs == {"source": "synth", "target": "real"}
    run = farm.data / "runs" / "r1"
    assert Path(run_dir) == run.resolve()
    assert Path(artifacts["checkpoints/last.pt"]).is_file() and (run / "losses.csv").is_file()
    assert json.loads((run / "config.json").read_text())["iters"] == 2
    assert "refine train --source" in (run / "worker.log").read_text()
    status = farm.cli("status").stdout
    assert "r1" in status and "done" in status and "iter 2" in status
    st = json.loads(farm.cli("status", "--json").stdout)
    assert [(r["name"], r["state"]) for r in st["runs"]] == [("r1", "done")]

"""GPU-queue tasks: payload validation, submit, and the job runner with real tiny refine runs
(child processes of this Python) through the SQLite catalog."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthreid.dataset import compute_splits, image_stem, write_labels, write_manifest
from synthreid.errors import DatasetError
from synthreid.workers.catalog import CatalogError
from synthreid.workers.dispatch import LocalDispatcher
from synthreid.workers.gpu_tasks import log_tail, submit_job
from synthreid.workers.jobs import (
    JOBS,
    RESERVED,
    BenchmarkTrainJob,
    JobError,
    RefineApplyJob,
    build_plan,
    job_from_args,
    job_from_payload,
    make_job,
)
from synthreid.workers.status import farm_status, format_status
from synthreid.workers.worker import Worker

TINY = [
    "--size",
    "16x32",
    "--generator",
    "resnet_6blocks",
    "--ngf",
    "8",
    "--ndf",
    "8",
    "--n-layers-d",
    "2",
    "--workers",
    "0",
    "--device",
    "cpu",
    "--checkpoint-every",
    "1",
    "--sample-every",
    "1",
]


def make_dataset(root: Path, n_ids: int = 3, per_id: int = 2, seed: int = 0) -> Path:
    """A rendered dataset in the canonical layout (PNG crops, masks, labels, manifest)."""
    rng = np.random.default_rng(seed)
    rows = []
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for pid in range(n_ids):
        for idx in range(per_id):
            stem = image_stem(pid, 1 + idx % 2, idx)
            Image.fromarray(rng.integers(0, 256, (36, 18, 3), dtype=np.uint8)).save(
                root / "images" / f"{stem}.png"
            )
            mask = np.zeros((36, 18), np.uint8)
            mask[4:32, 4:14] = 255
            Image.fromarray(mask).save(root / "masks" / f"{stem}.png")
            rows.append({"image": f"images/{stem}.png", "pid": pid, "camid": 1 + idx % 2, "index": idx})
    write_labels(root, rows)
    write_manifest(
        root, {"name": root.name, "kind": "rendered", "seed": seed, "splits": compute_splits(n_ids, seed)}
    )
    return root


def make_target(root: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(7)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (36, 18, 3), dtype=np.uint8)).save(
            root / "images" / f"cam_{i}.png"
        )
    return root


@pytest.fixture
def data(config):
    make_dataset(config.datasets_dir / "synth")
    make_target(config.datasets_dir / "real")
    return config.data_dir.resolve()


def plan_of(command, args, data_dir, run="r1"):
    return build_plan(job_from_args(command, run, args), data_dir)


# ---- validation -------------------------------------------------------------------------------
def test_payload_rejects_bad_subcommand_run_name_and_fields():
    with pytest.raises(JobError, match="payload.command.*not a gpu job"):
        job_from_payload({"version": 2, "command": "benchmark-report", "run": "r1"})
    with pytest.raises(JobError, match="payload.command"):
        job_from_payload({"command": "render", "run": "r1", "args": []})
    for run in ("../x", "a/b", "", ".hidden", None):
        with pytest.raises(JobError, match="refine-train: run"):
            make_job("refine-train", run=run, source="s", target="t")
    with pytest.raises(JobError, match="arguments: expected a list of strings"):
        job_from_payload({"command": "refine-train", "run": "r1", "args": "--source x"})
    with pytest.raises(JobError, match="arguments: expected a list of strings"):
        job_from_payload({"command": "refine-train", "run": "r1", "args": [1, 2]})
    with pytest.raises(JobError, match="JSON object"):
        job_from_payload(["refine-train"])
    with pytest.raises(JobError, match="payload.version: 7"):
        job_from_payload({"version": 7, "command": "refine-train", "run": "r1"})
    with pytest.raises(JobError, match="unknown field.*args"):
        make_job("refine-train", run="r1", source="s", target="t", args=["--x"])
    with pytest.raises(JobError, match=r"--target \(dataset name\) is required"):
        make_job("refine-train", run="r1", source="s")
    with pytest.raises(JobError, match=r"train \(--train\): expected a list"):
        make_job("benchmark-train", run="b", train="synth")
    with pytest.raises(JobError, match="options: expected a list of strings"):
        make_job("refine-train", run="r1", source="s", target="t", options="--iters 2")


def test_payload_round_trips_and_reads_version_1():
    job = job_from_args("benchmark-train", "b1", ["--train", "a", "--epochs", "3", "--train=b", "--no-amp"])
    assert isinstance(job, BenchmarkTrainJob) and job.train == ("a", "b")
    assert job.options == ("--epochs", "3", "--no-amp")
    payload = job.to_payload()
    assert payload["version"] == 2 and payload["train"] == ["a", "b"]
    assert job_from_payload(json.loads(json.dumps(payload))) == job
    old = {"command": "refine-apply", "run": "r1", "args": ["r1", "--source", "s", "--name", "n"]}
    assert job_from_payload(old) == RefineApplyJob(run="r1", options=(), source="s", name="n")


def test_plan_resolves_names_under_the_data_dir(data):
    plan = plan_of("refine-train", ["--source", "synth", "--target=real", "--iters", "2", "--no-amp"], data)
    assert plan.argv[:2] == ["refine", "train"]
    argv = plan.argv
    assert argv[argv.index("--source") + 1] == str(data / "datasets" / "synth")
    assert argv[argv.index("--target") + 1] == str(data / "datasets" / "real" / "images")  # canonical layout
    assert argv[argv.index("--out") + 1] == str(data / "runs" / "r1")
    assert argv[argv.index("--iters") : argv.index("--iters") + 3] == ["--iters", "2", "--no-amp"]
    assert plan.run_dir == data / "runs" / "r1"
    assert plan.inputs == {"source": ["synth"], "target": ["real"]}

    plan = plan_of(
        "benchmark-train",
        ["--train", "synth", "--train", "real", "--val", "synth", "--test", "real", "--epochs", "1"],
        data,
        run="b1",
    )
    a = plan.argv
    assert [a[i + 1] for i, t in enumerate(a) if t == "--train"] == [
        str(data / "datasets" / n) for n in ("synth", "real")
    ]
    assert plan.inputs["train"] == ["synth", "real"]


@pytest.mark.parametrize(
    "command,args,match",
    [
        ("refine-train", ["--source", "../synth", "--target", "real"], "dataset name"),
        ("refine-train", ["--source=/etc", "--target", "real"], "dataset name"),
        ("refine-train", ["--source", "synth", "--target", "real/../../x"], "dataset name"),
        ("refine-train", ["--source", "synth", "--target", "real", "--out", "/tmp/x"], "set by the farm"),
        ("refine-train", ["--source", "synth", "--target", "real", "--ou=/tmp/x"], "abbreviation of --out"),
        ("refine-train", ["--sour", "synth", "--target", "real"], "unknown option '--sour'"),
        ("refine-train", ["--source", "synth", "--target", "real", "--help"], "unknown option"),
        ("refine-train", ["--source", "synth", "--target", "real", "-h"], "short options"),
        ("refine-train", ["--source", "synth", "--target", "real", "extra"], "unexpected argument"),
        ("refine-train", ["--source", "synth", "--target", "real", "--source", "x"], "given twice"),
        ("refine-train", ["--source", "synth", "--target"], "needs a value"),
        ("refine-train", ["--source", "nope", "--target", "real"], "no dataset of that name"),
        (
            "benchmark-train",
            ["--train", "synth", "--val", "synth", "--weights", "../../etc/passwd"],
            "weights file",
        ),
        (
            "benchmark-train",
            ["--train", "synth", "--val", "synth", "--finetune-from", "ghost"],
            "unknown run",
        ),
        ("refine-apply", ["--source", "synth", "--name", "out"], "unknown run"),
    ],
)
def test_plan_rejects_escapes_unknown_names_and_bad_options(data, command, args, match):
    with pytest.raises(JobError, match=match):
        plan_of(command, args, data)


def test_reserved_options_cover_every_path_option_of_the_real_parsers():
    """The payload keeps every option that names a path out of ``options``; this compares its
    list with the sub-commands' real parsers (argparse internals are fine in a test)."""
    import argparse

    from synthreid.cli import build_parser

    def sub(parser, word):
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return action.choices[word]

    path_dests = {"source", "target", "target_masks", "out", "train", "val", "test", "finetune_from"}
    path_dests |= {"checkpoint", "weights", "name"}
    for cls in JOBS.values():
        parser = sub(sub(build_parser(), cls.cli[0]), cls.cli[1])
        flags = {f for a in parser._actions if a.dest in path_dests for f in a.option_strings}
        assert flags <= set(RESERVED), (cls.command, flags - set(RESERVED))


def test_submit_checks_options_with_the_command_line_dry_run(config, catalog, data):
    from synthreid.cli import check_command_line

    base = ["--source", "synth", "--target", "real"]
    with pytest.raises(JobError, match="argument --iters: invalid int value: 'many'"):
        submit_job(catalog, config, "refine-train", "r1", [*base, "--iters", "many"], check_command_line)
    with pytest.raises(JobError, match="unrecognized arguments: --bogus"):
        submit_job(catalog, config, "refine-train", "r1", [*base, "--bogus"], check_command_line)
    assert catalog.list_runs() == []  # nothing written
    plan, _ = submit_job(catalog, config, "refine-train", "r1", [*base, "--iters", "2"], check_command_line)
    assert plan.argv[-2:] == ["--out", str(data / "runs" / "r1")]


def test_apply_and_eval_need_an_existing_run_and_stay_inside_it(data):
    (data / "runs" / "r1").mkdir(parents=True)
    plan = plan_of(
        "refine-apply", ["--source", "synth", "--name", "synth-r1", "--checkpoint", "checkpoints/x.pt"], data
    )
    assert plan.argv[:3] == ["refine", "apply", str(data / "runs" / "r1")]
    assert plan.argv[plan.argv.index("--out") + 1] == str(data / "datasets" / "synth-r1")
    assert plan.argv[plan.argv.index("--checkpoint") + 1] == str(
        data / "runs" / "r1" / "checkpoints" / "x.pt"
    )
    with pytest.raises(JobError, match="no '..'"):
        plan_of("refine-apply", ["--source", "synth", "--name", "n", "--checkpoint", "../r2/x.pt"], data)
    with pytest.raises(JobError, match="--name"):
        plan_of("refine-apply", ["--source", "synth"], data)
    with pytest.raises(JobError, match="unexpected argument 'other'"):
        plan_of("benchmark-eval", ["other", "--test", "real"], data)
    plan = plan_of("benchmark-eval", ["r1", "--test", "real"], data)  # RUN may repeat --name
    assert plan.argv == [
        "benchmark",
        "eval",
        str(data / "runs" / "r1"),
        "--test",
        str(data / "datasets" / "real"),
    ]


# ---- submit -------------------------------------------------------------------------------------
def test_submit_creates_task_and_queued_run_once(config, catalog, data):
    plan, task_id = submit_job(
        catalog, config, "refine-train", "r1", ["--source", "synth", "--target", "real"]
    )
    task = catalog.get_task(task_id)
    assert (task.kind, task.queue, task.state) == ("train_refiner", "gpu", "pending")
    assert task.payload == {
        "version": 2,
        "command": "refine-train",
        "run": "r1",
        "options": [],
        "source": "synth",
        "target": "real",
        "target_masks": None,
    }
    run = catalog.get_run("r1")
    assert (run["kind"], run["state"], run["task_id"]) == ("refiner", "queued", task_id)
    with pytest.raises(CatalogError, match="still pending"):
        submit_job(catalog, config, "refine-train", "r1", ["--source", "synth", "--target", "real"])
    with pytest.raises(CatalogError, match="is a refiner run, not a reid run"):
        submit_job(catalog, config, "benchmark-eval", "r1", ["--test", "real"])
    with pytest.raises(DatasetError, match="already exists"):
        submit_job(catalog, config, "refine-apply", "r1", ["--source", "synth", "--name", "real"])
    with pytest.raises(JobError, match="not a gpu job"):
        submit_job(catalog, config, "render", "r1", [])
    assert [r["name"] for r in catalog.list_runs()] == ["r1"]
    st = farm_status(catalog)
    assert [(r["name"], r["state"]) for r in st["runs"]] == [("r1", "queued")]


# ---- running ----------------------------------------------------------------------------------
def test_worker_trains_then_applies_a_refiner(config, catalog, data):
    submit_job(
        catalog,
        config,
        "refine-train",
        "r1",
        ["--source", "synth", "--target", "real", "--iters", "2", *TINY],
    )
    w = Worker(config, ["gpu"], burst=True, dispatcher=LocalDispatcher(), poll_seconds=0.05)
    stats = w.run()
    run = catalog.get_run("r1")
    log = (data / "runs" / "r1" / "worker.log").read_text()
    assert stats["done"] == 1 and stats["failed"] == 0, log
    assert run["state"] == "done" and run["finished_at"] is not None
    assert run["metrics"]["iteration"] == 2 and "G" in run["metrics"]["losses"]
    assert run["config"]["iters"] == 2 and run["inputs"] == {"source": "synth", "target": "real"}
    assert run["progress"] == {"done": 2, "total": 2, "unit": "iter"}
    assert Path(run["artifacts"]["checkpoints/last.pt"]).is_file()
    assert "worker.log" in run["artifacts"] and "refine train --source" in log

    _, task_id = submit_job(
        catalog,
        config,
        "refine-apply",
        "r1",
        ["--source", "synth", "--name", "synth-r1", "--workers", "0", "--device", "cpu"],
    )
    stats = Worker(config, ["gpu"], burst=True, dispatcher=LocalDispatcher(), poll_seconds=0.05).run()
    assert stats["done"] == 1, (data / "runs" / "r1" / "worker.log").read_text()[-2000:]
    assert catalog.get_task(task_id).state == "done"
    ds = catalog.get_dataset("synth-r1")
    assert ds["kind"] == "refined" and ds["spec"]["parent"]["name"] == "synth"
    assert (ds["characters"], ds["images_per_character"]) == (3, 2)
    parent, refiner = catalog.run(
        lambda cur: catalog.q(
            cur,
            "SELECT p.name, d.refiner_run_id FROM datasets d LEFT JOIN datasets p ON p.id = d.parent_id "
            "WHERE d.name = ?",
            ("synth-r1",),
        ).fetchone()
    )
    assert parent is None  # the source was never in the catalog: no parent row to point at
    assert refiner == catalog.get_run("r1")["id"]
    assert len(list((data / "datasets" / "synth-r1" / "images").iterdir())) == 6
    text = format_status(farm_status(catalog))
    assert "synth-r1" in text and "refined" in text and "iter 2" in text


def test_failed_child_retries_then_shows_its_log_lines(config, catalog, data):
    (data / "datasets" / "empty").mkdir()
    submit_job(
        catalog,
        config,
        "refine-train",
        "bad",
        ["--source", "synth", "--target", "empty", "--iters", "2", *TINY],
    )
    stats = Worker(config, ["gpu"], burst=True, dispatcher=LocalDispatcher(), poll_seconds=0.05).run()
    assert stats["failed"] == 2 and stats["done"] == 0  # max_attempts = 2, backoff 0
    run = farm_status(catalog)["runs"][0]
    assert run["state"] == "failed" and run["attempts"] == 2
    assert "no target images" in run["error"] and "exited with status" not in run["error"].splitlines()[-1]
    assert "no target images" in format_status(farm_status(catalog))
    assert catalog.get_run("bad")["state"] == "failed"
    log = data / "runs" / "bad" / "worker.log"
    assert log.read_text().count("=== ") == 2 and "=== " not in log_tail(log)


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if text.encode() in (p / "cmdline").read_bytes():
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_stop_request_terminates_the_child_and_releases_the_task(config, catalog, data):
    _, task_id = submit_job(
        catalog,
        config,
        "refine-train",
        "long",
        ["--source", "synth", "--target", "real", "--iters", "100000", *TINY],
    )
    run_dir = str(data / "runs" / "long") + "\x00"  # the child's command line names the run folder
    w = Worker(config, ["gpu"], dispatcher=LocalDispatcher(), poll_seconds=0.05)
    t = threading.Thread(target=w.run)
    t.start()
    try:
        end = time.monotonic() + 30
        while not _processes_mentioning(run_dir) and time.monotonic() < end:
            time.sleep(0.05)
        assert _processes_mentioning(run_dir), "the child never started"
        assert catalog.get_run("long")["state"] == "running"
        time.sleep(1.0)  # let it get into its imports
        w.stop_requested.set()  # what the SIGTERM handler does
        t.join(40)
        assert not t.is_alive()
    finally:
        w.stop_requested.set()
        t.join(40)
    assert _processes_mentioning(run_dir) == []
    assert w.stats["released"] == 1 and w.stats["failed"] == 0
    task = catalog.get_task(task_id)
    assert (task.state, task.attempts, task.worker) == ("pending", 0, None)
    assert catalog.get_run("long")["state"] == "queued"

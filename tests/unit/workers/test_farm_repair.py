"""`enqueue --resume` re-queues done images whose files are damaged (SQLite, fake renderer)."""

from __future__ import annotations

import json

import pytest

from synthreid.errors import DatasetError
from synthreid.render.verify import fix_dataset, verify_dataset
from synthreid.workers.dispatch import LocalDispatcher
from synthreid.workers.repair import requeue_damaged
from synthreid.workers.tasks import enqueue_dataset
from synthreid.workers.worker import Worker

from .conftest import FakeBackend, fake_render, tiny_spec


def render_all(config, catalog, spec):
    enqueue_dataset(catalog, spec, progress=False)
    backend = FakeBackend()
    Worker(config, burst=True, backend=backend, dispatcher=LocalDispatcher(), poll_seconds=0.05).run()
    ds = catalog.get_dataset(spec.name)
    assert ds["finalized_at"] is not None
    return ds, {im["stem"]: im for im in catalog.dataset_images(ds["id"])}


def burst(config):
    backend = FakeBackend()
    Worker(config, burst=True, backend=backend, dispatcher=LocalDispatcher(), poll_seconds=0.05).run()
    return backend


def resume(catalog, spec, config):
    return enqueue_dataset(catalog, spec, resume=True, progress=False, dataset_root=config.dataset_root)


def stem_of(ci, ii, spec):
    from synthreid.render.plan import plan_image

    return plan_image(spec, ci, ii).stem


def test_resume_requeues_exactly_the_damaged_images_and_finalizes_again(config, catalog):
    spec = tiny_spec(characters=3, images=2)
    ds, images = render_all(config, catalog, spec)
    root = config.dataset_root("tiny")
    truncated, maskless = stem_of(0, 1, spec), stem_of(2, 0, spec)
    img = root / images[truncated]["path"]
    img.write_bytes(img.read_bytes()[:20])
    (root / images[maskless]["mask_path"]).unlink()

    res = resume(catalog, spec, config)
    rep = res.repair
    assert (rep.checked, rep.damaged, rep.requeued, rep.tasks, rep.busy) == (6, 2, 2, 2, 0)
    assert dict(rep.by_reason) == {"files": 2}
    text = "\n".join(rep.lines())
    assert f"images/{truncated}.png: sha256 differs" in text and f"masks/{maskless}.png: missing" in text
    assert "2 re-queued in 2 tasks" in rep.lines()[0]
    ds = catalog.get_dataset("tiny")
    assert ds["finalized_at"] is None
    states = {im["stem"]: im["state"] for im in catalog.dataset_images(ds["id"])}
    assert sorted(s for s, st in states.items() if st == "pending") == sorted([truncated, maskless])
    assert len(res.tasks) == 2  # the two reopened character tasks are dispatched
    attempts = catalog.run(
        lambda cur: catalog.q(
            cur, "SELECT state, attempts, finished_at FROM tasks WHERE state <> 'done'"
        ).fetchall()
    )
    assert [tuple(a) for a in attempts] == [("pending", 0, None)] * 2

    backend = burst(config)
    assert sorted(backend.rendered) == [(0, 1), (2, 0)]
    ds = catalog.get_dataset("tiny")
    assert ds["finalized_at"] is not None and backend.finalized == 1
    report = verify_dataset(root)
    assert report.ok, report.problems
    labels = [json.loads(line) for line in (root / "labels.jsonl").read_text().splitlines()]
    assert [r["state"] for r in labels] == ["done"] * 6
    # Nothing left to repair: a second resume checks everything and re-queues nothing.
    again = resume(catalog, spec, config).repair
    assert (again.checked, again.damaged) == (6, 0) and again.lines()[0].endswith("all sound")


def test_verify_fix_then_resume_renders_the_removed_images(config, catalog):
    spec = tiny_spec(characters=2, images=2)
    ds, images = render_all(config, catalog, spec)
    root = config.dataset_root("tiny")
    broken = stem_of(1, 1, spec)
    (root / images[broken]["path"]).write_bytes(b"torn")
    fixed = fix_dataset(verify_dataset(root))
    assert fixed.removed_images == (broken,)
    rep = resume(catalog, spec, config).repair
    assert (rep.requeued, rep.tasks, dict(rep.by_reason)) == (1, 1, {"meta": 1})
    assert rep.examples[0].message == f"meta/{broken}.json: missing"
    assert burst(config).rendered == [(1, 1)]
    assert verify_dataset(root).ok and catalog.get_dataset("tiny")["finalized_at"] is not None


def test_files_replaced_after_recording_are_recorded_again_not_rendered(config, catalog):
    spec = tiny_spec(characters=1, images=2)
    ds, images = render_all(config, catalog, spec)
    root = config.dataset_root("tiny")
    stem = stem_of(0, 0, spec)
    # Another sound render of the same image (meta row consistent with its files) replaced it.
    fake_render(FakeBackend(), spec, root, 0, 1)
    other = json.loads((root / "meta" / f"{stem_of(0, 1, spec)}.json").read_text())
    (root / f"images/{stem}.png").write_bytes((root / other["image"]).read_bytes())
    row = json.loads((root / "meta" / f"{stem}.json").read_text())
    row["checksum"] = other["checksum"]
    (root / "meta" / f"{stem}.json").write_text(json.dumps(row))
    rep = resume(catalog, spec, config).repair
    assert dict(rep.by_reason) == {"replaced": 1} and rep.requeued == 1
    backend = burst(config)
    assert backend.rendered == []  # sound files are kept; the catalog records their checksum
    im = {i["stem"]: i for i in catalog.dataset_images(ds["id"])}[stem]
    assert im["state"] == "done" and im["checksum"] == other["checksum"]


def test_image_of_a_running_task_is_left_for_the_next_check(config, catalog):
    spec = tiny_spec(characters=1, images=2)
    ds, images = render_all(config, catalog, spec)
    root = config.dataset_root("tiny")
    (root / images[stem_of(0, 0, spec)]["mask_path"]).unlink()
    catalog.run(
        lambda cur: catalog.q(
            cur, "UPDATE tasks SET state = 'running', worker = 'w', lease_until = ?", (1e12,)
        )
    )
    rep = requeue_damaged(catalog, ds["id"], root, progress=False)
    assert (rep.damaged, rep.requeued, rep.busy) == (1, 0, 1)
    assert "left for the next --resume" in rep.lines()[0]
    assert catalog.get_dataset("tiny")["finalized_at"] is not None  # nothing re-queued, nothing unfinalized


def test_missing_dataset_folder_is_refused_not_requeued(config, catalog, tmp_path):
    spec = tiny_spec(characters=1, images=2)
    ds, _ = render_all(config, catalog, spec)
    with pytest.raises(DatasetError, match="SYNTHREID_DATA_DIR"):
        requeue_damaged(catalog, ds["id"], tmp_path / "elsewhere" / "tiny", progress=False)
    assert catalog.count_images(ds["id"], "done") == 2


def test_paged_check_covers_every_image(config, catalog):
    spec = tiny_spec(characters=4, images=3)
    ds, images = render_all(config, catalog, spec)
    root = config.dataset_root("tiny")
    for ci in range(4):
        (root / "meta" / f"{stem_of(ci, 2, spec)}.json").unlink()
    rep = requeue_damaged(catalog, ds["id"], root, progress=False, page=5, threads=2)
    assert (rep.checked, rep.requeued, rep.tasks) == (12, 4, 4)
    assert len(rep.examples) == 4 and not rep.lines()[-1].startswith("  ...")


def test_finalize_is_not_recorded_when_tasks_were_reopened_meanwhile(config, catalog):
    spec = tiny_spec(characters=1, images=1)
    ds, images = render_all(config, catalog, spec)
    catalog.run(lambda cur: catalog.q(cur, "UPDATE datasets SET finalized_at = NULL"))
    assert catalog.claim_finalize(ds["id"], 60)
    # enqueue --resume reopens a task while the finalizer writes labels.jsonl
    (config.dataset_root("tiny") / images[stem_of(0, 0, spec)]["path"]).unlink()
    assert requeue_damaged(catalog, ds["id"], config.dataset_root("tiny"), progress=False).requeued == 1
    assert catalog.mark_finalized(ds["id"]) is False
    ds = catalog.get_dataset("tiny")
    assert ds["finalized_at"] is None and ds["finalizing_at"] is None
